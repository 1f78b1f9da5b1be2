import Foundation

/// Paths inside the repository, found from this file's location so tests run from any directory.
public enum Repository {
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    public static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    /// The `cliptrace` executable built beside the test bundle, or `$CLIPTRACE_BINARY` (to run the suite's
    /// command-line tests against an installed or older binary).
    public static func cliptraceBinary() throws -> String {
        if let chosen = ProcessInfo.processInfo.environment["CLIPTRACE_BINARY"], !chosen.isEmpty { return chosen }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("cliptrace").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        for configuration in ["debug", "release"] {
            let candidate = path(".build/\(configuration)/cliptrace")
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "cliptrace binary not built"])
    }
}

/// A fresh temporary folder, removed by `cleanUp()`.
public struct TemporaryFolder {
    public let path: String

    public init(_ label: String = "cliptrace-test") throws {
        path = NSTemporaryDirectory() + "\(label)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    public func cleanUp() { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs a command and captures its output.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// The command was killed at its timeout.
    public var timedOut = false
}

/// Runs a command and captures its output. With a `timeout` (seconds), a command still running then is killed
/// (SIGKILL) and `timedOut` is set: a test of something that must not hang stays bounded either way.
public func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                timeout: Double? = nil, standardInput: FileHandle? = nil) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var merged = ProcessInfo.processInfo.environment
    for (key, value) in environment { merged[key] = value }
    process.environment = merged
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    if let standardInput { process.standardInput = standardInput }
    try process.run()
    nonisolated(unsafe) var killed = false
    if let timeout {
        let pid = process.processIdentifier
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
            if process.isRunning {
                killed = true
                kill(pid, SIGKILL)
            }
        }
    }
    // Read both pipes before waiting so a chatty child cannot fill a pipe and block.
    let group = DispatchGroup()
    nonisolated(unsafe) var outData = Data(), errData = Data()
    group.enter()
    DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter()
    DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.wait()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self), timedOut: killed)
}

/// A small deterministic generator so tests do not depend on the system's random numbers.
public struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Pictures of overlapping grey rectangles and discs: plenty of corners, none repeated, different per seed.
public enum SyntheticScene {
    public static func shapes(seed: UInt64, width: Int, height: Int) -> [UInt8] {
        var pixels = [UInt8](repeating: 90, count: width * height)
        var generator = SplitMix(seed: seed)
        for shape in 0..<(40 * width * height / 76_800) {
            let x0 = Int(generator.next() % UInt64(width)), y0 = Int(generator.next() % UInt64(height))
            let w = 10 + Int(generator.next() % 70), h = 10 + Int(generator.next() % 60)
            let value = UInt8(generator.next() % 256)
            for y in max(0, y0)..<min(height, y0 + h) {
                for x in max(0, x0)..<min(width, x0 + w) {
                    if shape % 3 == 0 {  // a disc
                        let dx = Double(x - x0 - w / 2) / Double(w / 2), dy = Double(y - y0 - h / 2) / Double(h / 2)
                        if dx * dx + dy * dy > 1 { continue }
                    }
                    pixels[y * width + x] = value
                }
            }
        }
        return pixels
    }
}
