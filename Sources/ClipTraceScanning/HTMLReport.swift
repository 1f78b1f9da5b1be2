import ClipTraceAlignment
import ClipTraceCatalogue
import ClipTraceDecoding
import ClipTraceMatching
import Foundation

/// A self-contained HTML page of a scan: a summary, one card per match with both timelines and thumbnails of
/// query and reference side by side, then the files that failed. Inline CSS and script, images as data URIs:
/// it opens from a mail attachment or a USB stick with no network.
public struct HTMLReport {
    /// The three moments a card shows: start, middle and end of the matched segment.
    static let momentNames = ["start", "middle", "end"]
    /// Thumbnails are small: 40 queries must stay well under 5 MB.
    public var thumbnailSide = 240

    public init() {}

    /// The pictures of every card (each match of `results`, in order): extracted with FFmpeg at the matched
    /// moments of each query file and of each reference's registered source file, files in parallel.
    public func moments(for results: [FileScanResult]) -> [[Moment]] {
        let cards = results.flatMap { result in result.matches.map { (result, $0) } }
        let side = thumbnailSide
        // A reference's pictures come from the file it was registered from only while that is still the same
        // file (same size and SHA-256): a different video at that path would show the wrong evidence.
        var clips: [Int64: ClipRecord] = [:]
        for (_, match) in cards { clips[match.clip.id] = match.clip }
        let distinct = Array(clips.values)
        let verdicts = VerdictStore(count: distinct.count)
        DispatchQueue.concurrentPerform(iterations: distinct.count) { index in
            verdicts.set(index, Self.referenceProblem(distinct[index]))
        }
        var found: [Int64: ThumbnailProblem] = [:]
        for (index, clip) in distinct.enumerated() { if let problem = verdicts.values[index] { found[clip.id] = problem } }
        let problems = found
        let collected = MomentStore(count: cards.count)
        // Each picture is a short seek and decode.
        DispatchQueue.concurrentPerform(iterations: cards.count) { index in
            collected.set(index, Self.moments(for: cards[index].1, queryPath: cards[index].0.path, side: side,
                                              referenceProblem: problems[cards[index].1.clip.id]))
        }
        return collected.values
    }

    /// Why the file a clip was registered from cannot show it any more, or nil when it still can.
    static func referenceProblem(_ clip: ClipRecord) -> ThumbnailProblem? {
        let path = clip.sourcePath
        var info = stat()
        guard PathBytes.withCString(path, { stat($0, &info) }) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            return ThumbnailProblem(sentence: "The reference file is no longer at \(PathBytes.display(path)).")
        }
        guard Int64(info.st_size) == clip.size, let digest = try? MediaFiles.sha256(path: path).digest,
              digest == clip.sha256
        else {
            return ThumbnailProblem(sentence: "The reference file at \(PathBytes.display(path)) moved or changed since it was registered (its size or content differs); no picture is shown rather than a wrong one.")
        }
        return nil
    }

    final class VerdictStore: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: [ThumbnailProblem?]
        init(count: Int) { stored = Array(repeating: nil, count: count) }
        func set(_ index: Int, _ value: ThumbnailProblem?) { lock.withLock { stored[index] = value } }
        var values: [ThumbnailProblem?] { lock.withLock { stored } }
    }

    /// Renders the page from `results` in input order and the pictures ``moments(for:)`` extracted for them.
    /// Pure text: no file is read here.
    public func render(results: [FileScanResult], moments pictures: [[Moment]], summary: ScanSummary) -> String {
        let cards = results.flatMap { result in result.matches.map { (result, $0) } }
        precondition(pictures.count == cards.count, "one set of pictures per card")
        var page = Self.head(summary: summary)
        page += "<section id=\"matches\">\n"
        if cards.isEmpty {
            page += "<p class=\"empty\">No registered clip was found in the scanned files.</p>\n"
        }
        for (index, (result, match)) in cards.enumerated() {
            page += Self.card(match: match, result: result, moments: pictures[index], number: index + 1)
        }
        page += "</section>\n"
        page += Self.failures(results.filter { $0.error != nil })
        page += Self.unmatched(results.filter { $0.error == nil && $0.matches.isEmpty })
        page += Self.script + "</main>\n</body>\n</html>\n"
        return page
    }

    /// The moments of each result, filled in by thumbnail extractions running in parallel.
    final class MomentStore: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: [[Moment]]
        init(count: Int) { stored = Array(repeating: [], count: count) }
        func set(_ index: Int, _ moments: [Moment]) { lock.withLock { stored[index] = moments } }
        var values: [[Moment]] { lock.withLock { stored } }
    }

    /// One matched moment: times on both timelines and the two pictures (or why a picture is missing).
    public struct Moment: Sendable {
        var queryTime: Double
        var referenceTime: Double
        var query: Result<Thumbnail, ThumbnailProblem>
        var reference: Result<Thumbnail, ThumbnailProblem>
    }

    public struct ThumbnailProblem: Error, Sendable {
        var sentence: String
    }

    static func moments(for scanMatch: ScanMatch, queryPath: String, side: Int, referenceProblem: ThumbnailProblem?)
        -> [Moment]
    {
        let match = scanMatch.match
        // Prefer moments the aligner actually paired; fall back to the fitted line.
        let targets = [match.queryStart, (match.queryStart + match.queryEnd) / 2, match.queryEnd]
        let pairs: [(Double, Double)] = targets.map { target in
            if let nearest = match.pairs.min(by: { abs($0.queryTime - target) < abs($1.queryTime - target) }),
               abs(nearest.queryTime - target) <= max(1, 0.1 * match.queryDuration)
            {
                return (nearest.queryTime, nearest.referenceTime)
            }
            return (target, match.referenceStart + (target - match.queryStart) * match.speed)
        }
        let queryPictures = pictures(path: queryPath, times: pairs.map(\.0), side: side, role: "query")
        let referencePictures = referenceProblem.map { problem in pairs.map { _ in .failure(problem) } }
            ?? pictures(path: scanMatch.clip.sourcePath, times: pairs.map(\.1), side: side, role: "reference")
        return pairs.indices.map {
            Moment(queryTime: pairs[$0].0, referenceTime: pairs[$0].1, query: queryPictures[$0],
                   reference: referencePictures[$0])
        }
    }

    static func pictures(path: String, times: [Double], side: Int, role: String) -> [Result<Thumbnail, ThumbnailProblem>] {
        var info = stat()
        guard PathBytes.withCString(path, { stat($0, &info) }) == 0 else {
            let problem = ThumbnailProblem(sentence: "The \(role) file is no longer at \(PathBytes.display(path)).")
            return times.map { _ in .failure(problem) }
        }
        do {
            return try VideoDecoder.thumbnails(path: path, at: times, maxSide: side).map { .success($0) }
        } catch {
            let problem = ThumbnailProblem(sentence: "No picture: \(error.message).")
            return times.map { _ in .failure(problem) }
        }
    }

    // MARK: - Page parts

    static func head(summary: ScanSummary) -> String {
        let generated = ISO8601DateFormatter().string(from: summary.generated)
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="generator" content="cliptrace">
            <title>ClipTrace report: \(summary.matches) match(es) in \(summary.files) file(s)</title>
            <style>\(style)</style>
            </head>
            <body>
            <main>
            <header>
            <h1>ClipTrace report</h1>
            <p class="meta">Catalogue <code>\(escape(summary.catalogue))</code> (\(summary.clips) clip(s)) · generated \(escape(generated))</p>
            <dl class="summary">
            <div><dt>Files scanned</dt><dd id="files-scanned">\(summary.files)</dd></div>
            <div><dt>Files with matches</dt><dd id="files-matched">\(summary.matchedFiles)</dd></div>
            <div><dt>Matches</dt><dd id="match-count">\(summary.matches)</dd></div>
            <div><dt>Files failed</dt><dd id="files-failed">\(summary.failed)</dd></div>
            <div><dt>Video scanned</dt><dd>\(clock(summary.secondsOfVideo))</dd></div>
            <div><dt>Time taken</dt><dd>\(String(format: "%.1f s", summary.elapsed))</dd></div>
            </dl>
            <p class="controls"><label for="sort">Sort matches by</label>
            <select id="sort"><option value="score">score, highest first</option><option value="query">query file</option><option value="reference">reference</option><option value="order">scan order</option></select></p>
            </header>

            """
    }

    static func card(match scanMatch: ScanMatch, result: FileScanResult, moments: [Moment], number: Int) -> String {
        let match = scanMatch.match, clip = scanMatch.clip
        let matchedSeconds = match.queryEnd - match.queryStart
        let referenceSeconds = match.referenceEnd - match.referenceStart
        let referenceShare = clip.duration > 0 ? min(1, referenceSeconds / clip.duration) : 0
        let queryShare = result.duration > 0 ? min(1, matchedSeconds / result.duration) : 0
        let transforms = scanMatch.transforms
        let verdict = match.isConfident ? "confident" : "weak"
        var html = """
            <article class="card \(verdict)" data-score="\(String(format: "%.4f", match.score))" data-order="\(number)" \
            data-query="\(escape(result.path))" data-reference="\(escape(clip.title))">
            <h2><span class="score" title="score 0–1; \(AlignmentOptions.decisionScore) is the decision threshold">\(String(format: "%.2f", match.score))</span> \
            \(escape(clip.title))</h2>
            <p class="who">Reference #\(clip.id)\(clip.owner.map { " · owner <strong>\(escape($0))</strong>" } ?? "") · \
            registered from <code>\(escape(clip.sourcePath))</code></p>
            <p class="who">Found in <code>\(escape(result.path))</code></p>
            \(timeline(label: "Query", total: result.duration, start: match.queryStart, end: match.queryEnd))
            \(timeline(label: "Reference", total: clip.duration, start: match.referenceStart, end: match.referenceEnd))
            <dl class="facts">
            <div><dt>Query</dt><dd>\(clock(match.queryStart, fine: true))–\(clock(match.queryEnd, fine: true))</dd></div>
            <div><dt>Reference</dt><dd>\(clock(match.referenceStart, fine: true))–\(clock(match.referenceEnd, fine: true))</dd></div>
            <div><dt>Matched</dt><dd>\(String(format: "%.1f s", matchedSeconds))</dd></div>
            <div><dt>Of the reference</dt><dd>\(percent(referenceShare))</dd></div>
            <div><dt>Of the query</dt><dd>\(percent(queryShare))</dd></div>
            <div><dt>\(match.evidence == .hash ? "Frames" : "Corner moments")</dt><dd>\(match.matchedMoments) of \(match.usableMoments), mean distance \(String(format: "%.0f", match.meanDistance))/256</dd></div>
            <div><dt>Transforms</dt><dd>\(transforms.isEmpty ? "none detected" : transforms.map(describe).map(escape).joined(separator: ", "))</dd></div>
            </dl>
            <div class="moments">

            """
        for (index, moment) in moments.enumerated() {
            let name = momentNames[min(index, momentNames.count - 1)]
            html += """
                <figure class="moment"><figcaption>\(name)</figcaption>
                \(picture(moment.query, caption: "query \(clock(moment.queryTime, fine: true))"))
                \(picture(moment.reference, caption: "reference \(clock(moment.referenceTime, fine: true))"))
                </figure>

                """
        }
        html += "</div>\n</article>\n"
        return html
    }

    static func timeline(label: String, total: Double, start: Double, end: Double) -> String {
        let length = max(total, end, 0.001)
        let left = max(0, min(100, start / length * 100))
        let width = max(0.5, min(100 - left, (end - start) / length * 100))
        return """
            <div class="timeline"><span class="label">\(label)</span><div class="bar" role="img" \
            aria-label="\(label) \(clock(start, fine: true)) to \(clock(end, fine: true)) of \(clock(total))">\
            <div class="segment" style="left:\(String(format: "%.2f", left))%;width:\(String(format: "%.2f", width))%"></div></div>\
            <span class="length">\(clock(total))</span></div>
            """
    }

    static func picture(_ picture: Result<Thumbnail, ThumbnailProblem>, caption: String) -> String {
        switch picture {
        case .success(let thumbnail):
            return """
                <div class="shot"><img alt="\(escape(caption))" width="\(thumbnail.width)" height="\(thumbnail.height)" \
                src="data:image/jpeg;base64,\(Data(thumbnail.jpeg).base64EncodedString())"><span>\(escape(caption))</span></div>
                """
        case .failure(let problem):
            return "<div class=\"shot missing\"><p>\(escape(problem.sentence))</p><span>\(escape(caption))</span></div>"
        }
    }

    static func failures(_ failed: [FileScanResult]) -> String {
        guard !failed.isEmpty else { return "" }
        var html = "<section id=\"errors\">\n<h2>Files that could not be scanned (\(failed.count))</h2>\n<ul>\n"
        for result in failed {
            html += "<li><code>\(escape(result.path))</code>: \(escape(result.error ?? ""))</li>\n"
        }
        return html + "</ul>\n</section>\n"
    }

    static func unmatched(_ clean: [FileScanResult]) -> String {
        guard !clean.isEmpty else { return "" }
        var html = "<section id=\"clean\">\n<details><summary>Files scanned with no match (\(clean.count))</summary>\n<ul>\n"
        for result in clean { html += "<li><code>\(escape(result.path))</code> (\(clock(result.duration)))</li>\n" }
        return html + "</ul>\n</details>\n</section>\n"
    }

    static func describe(_ transform: String) -> String {
        switch transform {
        case "mirror": "mirrored"
        case "window": "picture-in-picture window"
        case "full-frame": "matched on the whole frame"
        default: transform
        }
    }

    // MARK: - Formatting

    /// Escapes text for HTML element content and quoted attribute values.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in PathBytes.display(text).unicodeScalars {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\u{0}"..."\u{8}", "\u{B}", "\u{C}", "\u{E}"..."\u{1F}", "\u{7F}": out += "\u{FFFD}"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    static func clock(_ seconds: Double, fine: Bool = false) -> String {
        let value = max(0, seconds.isFinite ? seconds : 0)
        let whole = Int(value)
        let base = whole >= 3600
            ? String(format: "%d:%02d:%02d", whole / 3600, whole / 60 % 60, whole % 60)
            : String(format: "%02d:%02d", whole / 60, whole % 60)
        return fine ? base + String(format: ".%d", Int((value - Double(whole)) * 10)) : base
    }

    static func percent(_ share: Double) -> String { String(format: "%.0f %%", share * 100) }

    static let style = """
        :root{color-scheme:light dark;--fg:#1b1f24;--muted:#5b6470;--bg:#f6f7f9;--card:#fff;--line:#d8dde3;--accent:#d9480f;--ok:#2b8a3e}
        @media (prefers-color-scheme:dark){:root{--fg:#e6e8eb;--muted:#9aa3ad;--bg:#15181c;--card:#1f2328;--line:#363c44}}
        *{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
        main{max-width:1100px;margin:0 auto;padding:16px}h1{margin:.2em 0;font-size:1.6em}h2{font-size:1.15em;margin:.2em 0 .4em}
        code{font:13px ui-monospace,Menlo,Consolas,monospace;word-break:break-all}.meta,.who{color:var(--muted);margin:.2em 0}
        .summary,.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:8px;margin:12px 0}
        .summary div,.facts div{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:6px 10px}
        dt{color:var(--muted);font-size:.8em}dd{margin:0;font-weight:600}
        .card{background:var(--card);border:1px solid var(--line);border-left:5px solid var(--accent);border-radius:10px;padding:14px;margin:14px 0}
        .card.weak{border-left-color:var(--muted)}.score{display:inline-block;background:var(--accent);color:#fff;border-radius:6px;padding:0 8px;margin-right:6px}
        .card.weak .score{background:var(--muted)}
        .timeline{display:flex;align-items:center;gap:8px;margin:6px 0}.timeline .label{width:78px;color:var(--muted);font-size:.85em}
        .timeline .length{width:64px;text-align:right;color:var(--muted);font-size:.85em}
        .bar{position:relative;flex:1;height:14px;background:var(--bg);border:1px solid var(--line);border-radius:7px;overflow:hidden}
        .segment{position:absolute;top:0;bottom:0;background:var(--accent)}
        .moments{display:grid;grid-template-columns:repeat(auto-fit,minmax(250px,1fr));gap:10px}
        .moment{margin:0;display:grid;grid-template-columns:1fr 1fr;gap:6px;align-items:start}
        .moment figcaption{grid-column:1/3;color:var(--muted);font-size:.8em;text-transform:uppercase;letter-spacing:.05em}
        .shot img{display:block;width:100%;height:auto;border-radius:4px;background:#000}.shot span{font-size:.8em;color:var(--muted)}
        .shot.missing p{margin:0;padding:10px;border:1px dashed var(--line);border-radius:4px;font-size:.8em;color:var(--muted)}
        .controls select{font:inherit;margin-left:6px}#errors li,#clean li{margin:.3em 0}.empty{color:var(--muted)}
        @media (max-width:520px){main{padding:10px}.timeline .label{width:62px}.moments{grid-template-columns:1fr}}
        """

    /// Sorting without a framework; it touches only this page's own elements.
    static let script = """
        <script>
        (function () {
          var select = document.getElementById("sort");
          var list = document.getElementById("matches");
          if (!select || !list) { return; }
          function key(card, by) {
            if (by === "score") { return -parseFloat(card.dataset.score); }
            if (by === "order") { return parseInt(card.dataset.order, 10); }
            return (card.dataset[by] || "").toLowerCase();
          }
          function sortCards() {
            var by = select.value;
            var cards = Array.prototype.slice.call(list.querySelectorAll("article.card"));
            cards.sort(function (a, b) {
              var x = key(a, by), y = key(b, by);
              if (x < y) { return -1; }
              if (x > y) { return 1; }
              return parseInt(a.dataset.order, 10) - parseInt(b.dataset.order, 10);
            });
            cards.forEach(function (card) { list.appendChild(card); });
          }
          select.addEventListener("change", sortCards);
          sortCards();
        })();
        </script>

        """
}
