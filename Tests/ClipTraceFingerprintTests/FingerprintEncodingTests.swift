import ClipTraceFingerprint
import ClipTraceHashing
import Foundation
import TestSupport
import Testing

@Suite("Fingerprint encodings")
struct FingerprintEncodingTests {
    /// A fingerprint with hashes whose top bits are set (≥ 2^63), probes, and awkward values.
    static func sample(frames: Int = 50) -> Fingerprint {
        var generator = SplitMix(seed: 42)
        let list = (0..<frames).map { index in
            Fingerprint.Frame(
                time: Double(index) * 0.25,
                hash: PDQHash(w0: generator.next() | 1 << 63, w1: generator.next(), w2: generator.next(), w3: .max),
                quality: index % 101,
                probes: index % 3 == 0
                    ? [.init(hash: PDQHash(w0: generator.next(), w1: 0, w2: 1, w3: generator.next()), orientation: .mirror,
                             region: .crop)]
                    : [])
        }
        return Fingerprint(duration: Double(frames) * 0.25, frameRate: 29.97, width: 1920, height: 1080, rotation: 90,
                           codec: "h264", sampleRate: 4, frames: list)
    }

    @Test("binary encoding round-trips exactly, probes included")
    func binaryRoundTrip() throws {
        let original = Self.sample()
        let bytes = FingerprintBinary.encode(original)
        #expect(Array(bytes.prefix(4)) == Array("CTFP".utf8))
        let decoded = try FingerprintBinary.decode(bytes)
        #expect(decoded == original)
    }

    @Test("local features round-trip in format 2; without them the bytes stay format 1")
    func featuresRoundTrip() throws {
        var generator = SplitMix(seed: 7)
        var withFeatures = Self.sample(frames: 8)
        let plainBytes = FingerprintBinary.encode(withFeatures)
        #expect(plainBytes[4] == 1 && plainBytes[5] == 0, "no features: format 1, readable by older versions")
        func feature() -> LocalFeature {
            // Positions on the 1/65536 grid the format stores, so the round trip is exact.
            let x = Float(generator.next() % 65_536) / 65_536, y = Float(generator.next() % 65_536) / 65_536
            let descriptor = PDQHash(w0: generator.next() | 1 << 63, w1: generator.next(), w2: generator.next(),
                                     w3: generator.next())
            return LocalFeature(x: x, y: y, descriptor: descriptor)
        }
        for index in 0..<4 {
            let features: [LocalFeature] = (0..<(index * 5)).map { _ in feature() }
            let region: Fingerprint.ProbeRegion = index == 3 ? .window : .content
            withFeatures.featureFrames.append(.init(time: Double(index) * 0.5, region: region,
                                                    orientation: index == 2 ? .mirror : .original,
                                                    zoom: index == 3 ? 0.86 : 1, features: features))
        }
        let bytes = FingerprintBinary.encode(withFeatures)
        #expect(bytes[4] == 2)
        #expect(try FingerprintBinary.decode(bytes) == withFeatures)
        // Damage inside the feature section is caught like damage anywhere else.
        for index in stride(from: plainBytes.count - 4, to: bytes.count, by: 7) {
            var damaged = bytes
            damaged[index] ^= 0x04
            #expect(throws: FingerprintError.self) { try FingerprintBinary.decode(damaged) }
        }
    }

    @Test("an empty fingerprint (a still with no usable frame) round-trips")
    func emptyRoundTrip() throws {
        let empty = Fingerprint(duration: 0, frameRate: 0, width: 1, height: 1, rotation: 0, codec: "png", sampleRate: 4,
                                frames: [])
        #expect(try FingerprintBinary.decode(FingerprintBinary.encode(empty)) == empty)
    }

    @Test("every single-bit flip and every truncation is rejected with an error")
    func corruptionIsDetected() {
        let bytes = FingerprintBinary.encode(Self.sample(frames: 6))
        for index in 0..<bytes.count {
            var damaged = bytes
            damaged[index] ^= 0x10
            #expect(throws: FingerprintError.self) { try FingerprintBinary.decode(damaged) }
        }
        for length in 0..<bytes.count {
            #expect(throws: FingerprintError.self) { try FingerprintBinary.decode(bytes.prefix(length)) }
        }
        #expect(throws: FingerprintError.self) { try FingerprintBinary.decode(bytes + [0]) }
    }

    @Test("the codes say what is wrong")
    func errorCodes() {
        var bytes = FingerprintBinary.encode(Self.sample(frames: 3))
        let wrongMagic = [UInt8](repeating: 0x41, count: bytes.count)
        #expect(throws: FingerprintError(code: .badMagic, message: "not a ClipTrace fingerprint (bad magic)")) {
            try FingerprintBinary.decode(wrongMagic)
        }
        bytes[bytes.count - 1] ^= 0xFF
        do {
            _ = try FingerprintBinary.decode(bytes)
            Issue.record("a damaged checksum was accepted")
        } catch {
            #expect(error.code == .checksumMismatch)
        }
    }

    @Test("JSON keeps the contract's field names and round-trips")
    func jsonRoundTrip() throws {
        let original = Self.sample(frames: 5)
        let document = FingerprintDocument(file: "clip.mp4", fingerprint: original)
        let data = try document.encoded()
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        for key in ["file", "duration", "width", "height", "frame_rate", "rotation", "algorithm", "frames"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        let frames = try #require(object["frames"] as? [[String: Any]])
        #expect(frames.first?["hash"] as? String == original.frames[0].hash.hexString)
        let decoded = try JSONDecoder().decode(FingerprintDocument.self, from: data).fingerprint()
        #expect(decoded.frames.map(\.hash) == original.frames.map(\.hash))
        #expect(decoded.frames.map(\.quality) == original.frames.map(\.quality))
        #expect(decoded.duration == original.duration)
    }

    @Test("vPDQ lines are frame,quality,hash,timestamp and parse back")
    func vpdqLines() throws {
        let original = Self.sample(frames: 4)
        let text = VPDQFormat.encode(original)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 4)
        let fields = lines[1].split(separator: ",")
        #expect(fields.count == 4)
        #expect(fields[0] == "7")  // 0.25 s at 29.97 fps
        #expect(fields[2].count == 64)
        #expect(fields[3] == "0.250")
        let parsed = try VPDQFormat.decodeFrames(text)
        #expect(parsed.map(\.hash) == original.frames.map(\.hash))
        #expect(throws: FingerprintError.self) { try VPDQFormat.decodeFrames("1,2,3\n") }
    }
}

@Suite("Fingerprint parser under mutation")
struct FingerprintFuzzTests {
    /// Seeded mutations of valid encodings (bit flips, byte overwrites, insertions, deletions, truncations,
    /// length-field lies with the checksum recomputed): every input must decode or throw, never crash or
    /// allocate without bound. `CLIPTRACE_FUZZ_ITERATIONS` sets the count (`make torture` runs 1,000,000).
    @Test("mutated inputs are rejected or decoded, never crash")
    func mutations() throws {
        let iterations = Int(ProcessInfo.processInfo.environment["CLIPTRACE_FUZZ_ITERATIONS"] ?? "") ?? 20_000
        var generator = SplitMix(seed: 2026)
        let seeds = [1, 3, 17].map { FingerprintBinary.encode(FingerprintEncodingTests.sample(frames: $0)) }
        var rejected = 0, accepted = 0
        for iteration in 0..<iterations {
            var bytes = seeds[iteration % seeds.count]
            let mutations = 1 + Int(generator.next() % 4)
            for _ in 0..<mutations where !bytes.isEmpty {
                let position = Int(generator.next() % UInt64(bytes.count))
                switch generator.next() % 6 {
                case 0: bytes[position] ^= UInt8(1 << (generator.next() % 8))
                case 1: bytes[position] = UInt8(truncatingIfNeeded: generator.next())
                case 2: bytes.insert(UInt8(truncatingIfNeeded: generator.next()), at: position)
                case 3: bytes.remove(at: position)
                case 4: bytes = Array(bytes.prefix(position))
                default:
                    // Lie in a length or count field and fix the checksum, so the parser's own checks are hit.
                    if bytes.count > 16 {
                        let field = [8, 9, 10, 11, 12, 13, 14, 15, bytes.count / 2][Int(generator.next() % 9)]
                        bytes[field] = [0xFF, 0x00, 0x7F, 0x80][Int(generator.next() % 4)]
                        let crc = CRC32.checksum(bytes.prefix(bytes.count - 4))
                        for k in 0..<4 { bytes[bytes.count - 4 + k] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(k))) }
                    }
                }
            }
            do {
                let decoded = try FingerprintBinary.decode(bytes)
                accepted += 1
                #expect(decoded.frames.count <= 17)
            } catch {
                rejected += 1
            }
        }
        print("fingerprint parser: \(iterations) mutated inputs, \(rejected) rejected, \(accepted) decoded")
        #expect(rejected + accepted == iterations)
        #expect(rejected > iterations * 9 / 10)
    }
}
