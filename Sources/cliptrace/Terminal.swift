import ClipTraceDecoding
import ClipTraceScanning
import Foundation

/// Messages for people go to stderr; results go to stdout or --output.
enum Terminal {
    static let isInteractive = isatty(STDERR_FILENO) == 1

    /// Text from outside (titles, file names, messages quoting them) made safe for a terminal or a TSV line:
    /// control characters and bytes that are not UTF-8 are shown as escapes instead of running as escape
    /// sequences or breaking a line in two.
    static func text(_ value: String) -> String { PathBytes.display(value, controls: true) }

    static func error(_ sentence: String) {
        FileHandle.standardError.write(Data("cliptrace: error: \(text(sentence))\n".utf8))
    }

    static func warning(_ sentence: String) {
        FileHandle.standardError.write(Data("cliptrace: warning: \(text(sentence))\n".utf8))
    }

    static func info(_ text: String) {
        FileHandle.standardError.write(Data("\(Terminal.text(text))\n".utf8))
    }

    /// One sentence for an error that ends a command.
    static func sentence(for error: any Error) -> String {
        if let error = error as? OutputError { return error.message }
        return ClipScanner.sentence(for: error)
    }

    /// Writes results to stdout. A write that fails (a full disk behind a redirection) is an error the user
    /// must see: it ends the command with status 2 instead of a silent, truncated result.
    static func writeResults(_ text: String) throws {
        do {
            try OutputSink(.standardOutput).write(text)
        } catch {
            Terminal.error(error.message)
            throw ExitStatus.fatal
        }
    }
}

/// A one-line progress display on a terminal: silent in pipes and with --quiet.
final class ProgressLine: @unchecked Sendable {
    private let enabled: Bool
    private let started = Date()
    private let lock = NSLock()
    private var lastDraw = Date.distantPast
    private var drawn = false

    init(quiet: Bool) {
        enabled = !quiet && Terminal.isInteractive
    }

    func update(done: Int, total: Int, current: String?, secondsOfVideo: Double) {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) > 0.1 || done == total else { return }
        lastDraw = now
        let elapsed = now.timeIntervalSince(started)
        let rate = elapsed > 0 ? secondsOfVideo / elapsed : 0
        let remaining = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        var line = "[\(done)/\(total)] \(String(format: "%.1f", rate))× real time, ETA \(Self.clock(remaining))"
        if let current { line += "  " + Terminal.text((current as NSString).lastPathComponent) }
        if line.count > 100 { line = String(line.prefix(100)) }
        FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
        drawn = true
    }

    func finish() {
        guard enabled, drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    static func clock(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        return total >= 3600 ? String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
            : String(format: "%d:%02d", total / 60, total % 60)
    }
}
