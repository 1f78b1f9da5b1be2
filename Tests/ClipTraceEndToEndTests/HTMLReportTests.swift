import ClipTraceScanning
import Foundation
import TestSupport
import Testing

/// The HTML report, rendered by a real browser: Debian's headless Chromium (installed by `.ci/run` and
/// `scripts/setup.sh --with-browser`).
@Suite("HTML report", .serialized)
struct HTMLReportTests {
    /// Chromium, or a clear reason why the test cannot run.
    static func chromium() throws -> String {
        for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw CocoaError(.fileNoSuchFile, userInfo: [
            NSLocalizedDescriptionKey: "headless Chromium is needed to render the report: apt-get install -y chromium",
        ])
    }

    /// Instruments a copy of the page: records script errors, console errors and failed resources from the very
    /// first byte, and after `load` writes what it saw (and whether each image decoded) into the DOM.
    static let probe = """
        <script>
        window.__problems = [];
        window.addEventListener("error", function (e) {
          var t = e.target;
          window.__problems.push(t && t.tagName ? "resource " + t.tagName : "error " + e.message);
        }, true);
        (function () {
          var original = console.error;
          console.error = function () {
            window.__problems.push("console.error " + Array.prototype.join.call(arguments, " "));
            original.apply(console, arguments);
          };
        })();
        window.addEventListener("load", function () {
          var images = Array.prototype.slice.call(document.images);
          var broken = images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                             .map(function (i) { return i.alt; });
          var out = document.createElement("pre");
          out.id = "cliptrace-probe";
          out.textContent = JSON.stringify({ images: images.length, broken: broken, problems: window.__problems,
                                             cards: document.querySelectorAll("article.card").length });
          document.body.appendChild(out);
        });
        </script>
        """

    struct Rendered {
        var probe: [String: Any]
        var text: String
        var stderr: String
    }

    static func render(_ page: String, in folder: TemporaryFolder) throws -> Rendered {
        let instrumented = folder.file("instrumented.html")
        try page.replacingOccurrences(of: "<head>", with: "<head>\n" + probe, options: [], range: page.range(of: "<head>"))
            .write(toFile: instrumented, atomically: true, encoding: .utf8)
        let browser = try run(try chromium(), [
            "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
            "--user-data-dir=\(folder.file("chromium-profile"))", "--virtual-time-budget=5000", "--dump-dom",
            URL(fileURLWithPath: instrumented).absoluteString,
        ])
        let dom = browser.stdout
        let start = try #require(dom.range(of: "<pre id=\"cliptrace-probe\">"), "the page never finished loading: \(browser.stderr)")
        let end = try #require(dom.range(of: "</pre>", range: start.upperBound..<dom.endIndex))
        let json = String(dom[start.upperBound..<end.lowerBound]).replacingOccurrences(of: "&quot;", with: "\"")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&amp;", with: "&")
        let probe = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        return Rendered(probe: probe, text: dom, stderr: browser.stderr)
    }

    @Test("a real report loads in Chromium with no console error, every thumbnail decodes, every match is named")
    func rendersInChromium() throws {
        let binary = try Repository.cliptraceBinary()
        let folder = try TemporaryFolder("cliptrace-html")
        defer { folder.cleanUp() }
        let catalogue = folder.file("catalogue.sqlite")
        // An owner a careless page would run as markup.
        let owner = "Lan's <script>alert(1)</script> & \"Shop\""
        let registered = try run(binary, ["register", "--catalogue", catalogue, "--owner", owner] + CLITests.references)
        #expect(registered.status == 0, "\(registered.stderr)")

        let report = folder.file("report.html")
        let inputs = [Repository.path("testmedia/recordings"), Repository.path("testmedia/bad/text.mp4")]
        let html = try run(binary, ["scan", "--catalogue", catalogue, "--format", "html", "--output", report, "--quiet"] + inputs)
        #expect(html.status == 1, "one input is not a video, so the scan reports a partial failure: \(html.stderr)")
        let lines = try run(binary, ["scan", "--catalogue", catalogue, "--quiet"] + inputs)
        let matches = try CLITests.jsonLines(lines.stdout).filter { $0["reference"] is String }
        let truth = try CLITests.groundTruth()
        #expect(matches.count >= truth.count, "the scan finds the copies the report is to show")

        let page = try String(contentsOfFile: report, encoding: .utf8)
        #expect(!page.contains("<script>alert"), "user strings are escaped")
        #expect(page.contains("Lan&#39;s &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Shop&quot;"))
        #expect(!page.contains("http://") && !page.contains("https://"), "self-contained: nothing is fetched")

        let rendered = try Self.render(page, in: folder)
        #expect(rendered.probe["cards"] as? Int == matches.count)
        #expect(rendered.probe["images"] as? Int == 6 * matches.count, "query and reference at three moments per match")
        #expect((rendered.probe["broken"] as? [String])?.isEmpty == true, "\(rendered.probe)")
        #expect((rendered.probe["problems"] as? [String])?.isEmpty == true, "\(rendered.probe)")
        #expect(!rendered.stderr.contains(":CONSOLE"), "Chromium logged console output: \(rendered.stderr)")
        for match in matches {
            let title = try #require(match["reference"] as? String)
            let query = try #require(match["query"] as? String)
            #expect(rendered.text.contains(title) && rendered.text.contains(query), "the page names \(title) in \(query)")
        }
        #expect(rendered.text.contains("Files that could not be scanned (1)"))
        #expect(rendered.text.contains(Repository.path("testmedia/bad/text.mp4")))

        // The probe itself can fail: a page with a broken image and a script error is caught.
        let broken = page.replacingOccurrences(of: "</main>", with: "<img alt=\"bad\" src=\"data:image/jpeg;base64,AAAA\"><script>nope();</script></main>")
        let caught = try Self.render(broken, in: folder)
        #expect((caught.probe["broken"] as? [String]) == ["bad"])
        #expect((caught.probe["problems"] as? [String])?.count ?? 0 >= 2)
    }

    @Test("escaping covers markup, quotes and control characters")
    func escaping() {
        #expect(HTMLReport.escape("<a href=\"x\">it's & more</a>")
            == "&lt;a href=&quot;x&quot;&gt;it&#39;s &amp; more&lt;/a&gt;")
        #expect(HTMLReport.escape("tab\u{1}bell") == "tab\u{FFFD}bell")
        #expect(HTMLReport.escape("Cửa hàng Lan 🎬") == "Cửa hàng Lan 🎬")
    }
}
