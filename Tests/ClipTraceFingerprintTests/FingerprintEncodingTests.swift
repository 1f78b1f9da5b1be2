import ClipTraceFingerprint
import ClipTraceHashing
import Foundation
import TestSupport
import Testing

@Suite("Fingerprint encodings")
struct FingerprintEncodingTests {
    /// A fingerprint with hashes whose top bits are set (≥ 2^63), corners, hashes of picture halves, and awkward
    /// values.
    static func sample(frames: Int = 50, cornerFrames: Int = 4, partFrames: Int = 3) -> ReferenceFingerprint {
        var generator = SplitMix(seed: 42)
        let list = (0..<frames).map { index in
            ReferenceFingerprint.Frame(
                time: Double(index) * 0.25,
                hash: PDQHash(w0: generator.next() | 1 << 63, w1: generator.next(), w2: generator.next(), w3: .max),
                quality: index % 101)
        }
        let corners = (0..<cornerFrames).map { index in
            ReferenceFingerprint.CornerFrame(time: Double(index) * 0.5, corners: (0..<(index * 5)).map { _ in
                // Positions on the 1/65536 grid the format stores, so the round trip is exact.
                LocalFeature(x: Float(generator.next() % 65_536) / 65_536, y: Float(generator.next() % 65_536) / 65_536,
                             descriptor: PDQHash(w0: generator.next() | 1 << 63, w1: generator.next(),
                                                 w2: generator.next(), w3: generator.next()))
            })
        }
        let parts = (0..<partFrames).map { index in
            ReferenceFingerprint.PartFrame(time: Double(index) * 0.25 + 0.125, hashes: (0..<4).map { _ in
                PDQHash(w0: generator.next() | 1 << 63, w1: generator.next(), w2: generator.next(), w3: generator.next())
            }, qualities: [index, 100, 37, 0])
        }
        return ReferenceFingerprint(duration: Double(frames) * 0.25, frameRate: 29.97, width: 1920, height: 1080,
                                    rotation: 90, codec: "h264", sampleRate: 4, frames: list, cornerFrames: corners,
                                    partFrames: parts)
    }

    @Test("binary encoding round-trips exactly, corners included")
    func binaryRoundTrip() throws {
        let original = Self.sample()
        let bytes = FingerprintBinary.encode(original)
        #expect(Array(bytes.prefix(4)) == Array("CTFP".utf8))
        #expect(bytes[4] == 3 && bytes[5] == 0, "format 3")
        let decoded = try FingerprintBinary.decode(bytes)
        #expect(decoded == original)
        #expect(decoded.cornerCount == 30 && decoded.cornerAlgorithm == .brief && decoded.partFrames.count == 3)
        // Damage inside the corner section is caught like damage anywhere else.
        let plain = FingerprintBinary.encode(Self.sample(cornerFrames: 0))
        for index in stride(from: plain.count - 8, to: bytes.count, by: 7) {
            var damaged = bytes
            damaged[index] ^= 0x04
            #expect(throws: FingerprintError.self) { try FingerprintBinary.decode(damaged) }
        }
    }

    /// ClipTrace 0.1's formats: version 1 (frames with probe hashes) and 2 (feature frames after them).
    static func legacy(_ fingerprint: ReferenceFingerprint, version: UInt16) -> [UInt8] {
        var payload: [UInt8] = []
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { payload += $0 } }
        func append(_ hash: PDQHash) { [hash.w0, hash.w1, hash.w2, hash.w3].forEach { append($0) } }
        payload.append(3); payload += Array("pdq".utf8); append(UInt16(1))
        append(fingerprint.duration.bitPattern); append(fingerprint.frameRate.bitPattern)
        append(fingerprint.sampleRate.bitPattern)
        append(UInt32(fingerprint.width)); append(UInt32(fingerprint.height)); append(UInt16(fingerprint.rotation))
        payload.append(UInt8(fingerprint.codec.utf8.count)); payload += Array(fingerprint.codec.utf8)
        append(UInt32(fingerprint.frames.count))
        for (index, frame) in fingerprint.frames.enumerated() {
            append(UInt32((frame.time * 1000).rounded())); payload.append(UInt8(frame.quality)); append(frame.hash)
            // Every other frame carries a reference crop probe (orientation 0, region 4), which is dropped.
            let probes = index % 2
            payload.append(UInt8(probes))
            for _ in 0..<probes { payload += [0, 4]; append(PDQHash(w0: 1, w1: 2, w2: 3, w3: 4)) }
        }
        if version == 2 {
            // The reference's own corners (content, original, zoom 1) and a query view that must be dropped.
            let extra = ReferenceFingerprint.CornerFrame(time: 9, corners: fingerprint.cornerFrames.last?.corners ?? [])
            let frames = fingerprint.cornerFrames.map { ($0, UInt8(0), UInt8(0), UInt16(1000)) } + [(extra, 2, 4, 860)]
            append(UInt32(frames.count))
            for (frame, region, orientation, zoom) in frames {
                append(UInt32((frame.time * 1000).rounded())); payload += [region, orientation]; append(zoom)
                append(UInt16(frame.corners.count))
                for corner in frame.corners {
                    append(UInt16(corner.x * 65_536)); append(UInt16(corner.y * 65_536)); append(corner.descriptor)
                }
            }
        }
        var out = Array("CTFP".utf8)
        withUnsafeBytes(of: version.littleEndian) { out += $0 }
        out += [0, 0]
        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { out += $0 }
        out += payload
        withUnsafeBytes(of: CRC32.checksum(out).littleEndian) { out += $0 }
        return out
    }

    @Test("format 3 as first written, ending after its corner frames (no section for picture halves), still decodes")
    func formatThreeWithoutParts() throws {
        let original = Self.sample(frames: 12, partFrames: 0)
        var bytes = FingerprintBinary.encode(original)
        // Today's encoding ends with an empty part section (a zero count) and the checksum: drop both, shorten
        // the length field and sign the rest again.
        bytes.removeLast(8)
        let length = UInt32(bytes.count - 12)
        for index in 0..<4 { bytes[8 + index] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(index))) }
        withUnsafeBytes(of: CRC32.checksum(bytes).littleEndian) { bytes += $0 }
        #expect(try FingerprintBinary.decode(bytes) == original)
    }

    @Test("fingerprints of ClipTrace 0.1 (formats 1 and 2) still decode, without their query-side parts")
    func legacyFormats() throws {
        // Formats 1 and 2 had no hashes of picture halves.
        let original = Self.sample(frames: 12, partFrames: 0)
        var withoutCorners = original
        withoutCorners.cornerFrames = []
        #expect(try FingerprintBinary.decode(Self.legacy(original, version: 1)) == withoutCorners)
        #expect(try FingerprintBinary.decode(Self.legacy(original, version: 2)) == original)
    }

    @Test("an empty fingerprint (a still with no usable frame) round-trips")
    func emptyRoundTrip() throws {
        let empty = ReferenceFingerprint(duration: 0, frameRate: 0, width: 1, height: 1, rotation: 0, codec: "png",
                                         sampleRate: 4, frames: [])
        #expect(try FingerprintBinary.decode(FingerprintBinary.encode(empty)) == empty)
    }

    @Test("every single-bit flip and every truncation is rejected with an error")
    func corruptionIsDetected() {
        let bytes = FingerprintBinary.encode(Self.sample(frames: 6, cornerFrames: 2))
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
        var future = bytes
        future[4] = 4
        do {
            _ = try FingerprintBinary.decode(future)
            Issue.record("a format from the future was accepted")
        } catch {
            #expect(error.code == .unsupportedVersion)
        }
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

    @Test("JSON keeps the contract's field names and round-trips every field, corners included")
    func jsonRoundTrip() throws {
        let original = Self.sample(frames: 5)
        let document = FingerprintDocument(file: "clip.mp4", fingerprint: original)
        let data = try document.encoded()
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        for key in ["file", "duration", "width", "height", "frame_rate", "rotation", "algorithm", "frames",
                    "corner_frames", "corner_algorithm", "part_frames"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        let frames = try #require(object["frames"] as? [[String: Any]])
        #expect(frames.first?["hash"] as? String == original.frames[0].hash.hexString)
        let decoded = try JSONDecoder().decode(FingerprintDocument.self, from: data).fingerprint()
        #expect(decoded == original && decoded.partFrames.count == 3)
        // A malformed descriptor is refused, not dropped.
        var broken = document
        broken.cornerFrames?[1].corners[0].descriptor = "xyz"
        #expect(throws: FingerprintError.self) { try broken.fingerprint() }
        var brokenPart = document
        brokenPart.partFrames?[0].hashes.removeLast()
        #expect(throws: FingerprintError.self) { try brokenPart.fingerprint() }
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
        // Nearly every mutation breaks the checksum; those that survive were length lies with the checksum fixed.
        #expect(rejected > iterations * 9 / 10)
    }
}
