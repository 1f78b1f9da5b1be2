import ClipTraceHashing

/// The compact binary form of a ``ReferenceFingerprint``, which the catalogue stores and tools exchange.
///
/// Layout of format 3 (little-endian), the one written:
/// ```
/// "CTFP"            magic, 4 bytes
/// u16 version       3
/// u16 flags         0
/// u32 payloadLength bytes between this field and the checksum
/// payload:
///   u8  nameLength, name bytes          hash algorithm
///   u16 algorithmVersion
///   f64 duration, f64 frameRate, f64 sampleRate
///   u32 width, u32 height, u16 rotation
///   u8  codecLength, codec bytes
///   u32 frameCount
///   frameCount × { u32 timeMilliseconds, u8 quality, 32 bytes hash (w0…w3 little-endian) }
///   u8  cornerNameLength, name bytes    corner algorithm
///   u16 cornerAlgorithmVersion
///   u32 cornerFrameCount
///   cornerFrameCount × { u32 timeMilliseconds, u16 cornerCount,
///                        cornerCount × { u16 x, u16 y (fractions × 65536), 32 bytes descriptor } }
///   u32 partFrameCount
///   partFrameCount × { u32 timeMilliseconds, 4 × { u8 quality, 32 bytes hash } }   halves: top, bottom, left, right
/// u32 CRC-32 (IEEE) of everything before it
/// ```
/// Formats 1 and 2 (ClipTrace 0.1) are still read. Their per-frame probe hashes were never written for
/// references by the command line (they were reference-side crops, an option never exposed) and are dropped;
/// format 2's feature frames other than the upright content at zoom 1 (query-side views) likewise.
public enum FingerprintBinary {
    public static let magic: [UInt8] = Array("CTFP".utf8)
    /// The format written.
    public static let version: UInt16 = 3
    static let frameRecordSize = 4 + 1 + 32
    static let cornerRecordSize = 2 + 2 + 32
    static let cornerFrameHeaderSize = 4 + 2
    static let partFrameSize = 4 + 4 * (1 + 32)
    /// A fingerprint declaring more frames than this is refused before any allocation (one week at 60 per second).
    public static let maxFrameCount = 40_000_000

    public static func encode(_ fingerprint: ReferenceFingerprint) -> [UInt8] {
        var payload = ByteWriter()
        payload.bytes.reserveCapacity(64 + fingerprint.frames.count * frameRecordSize
            + fingerprint.cornerFrames.count * cornerFrameHeaderSize + fingerprint.cornerCount * cornerRecordSize
            + fingerprint.partFrames.count * partFrameSize)
        payload.appendShortString(fingerprint.algorithm.name)
        payload.append(UInt16(clamping: fingerprint.algorithm.version))
        payload.append(fingerprint.duration)
        payload.append(fingerprint.frameRate)
        payload.append(fingerprint.sampleRate)
        payload.append(UInt32(clamping: fingerprint.width))
        payload.append(UInt32(clamping: fingerprint.height))
        payload.append(UInt16(clamping: fingerprint.rotation))
        payload.appendShortString(fingerprint.codec)
        payload.append(UInt32(clamping: fingerprint.frames.count))
        for frame in fingerprint.frames {
            payload.append(milliseconds(frame.time))
            payload.append(UInt8(clamping: frame.quality))
            payload.append(frame.hash)
        }
        payload.appendShortString(fingerprint.cornerAlgorithm.name)
        payload.append(UInt16(clamping: fingerprint.cornerAlgorithm.version))
        payload.append(UInt32(clamping: fingerprint.cornerFrames.count))
        for frame in fingerprint.cornerFrames {
            payload.append(milliseconds(frame.time))
            let corners = frame.corners.prefix(Int(UInt16.max))
            payload.append(UInt16(corners.count))
            for corner in corners {
                payload.append(fraction(corner.x))
                payload.append(fraction(corner.y))
                payload.append(corner.descriptor)
            }
        }
        payload.append(UInt32(clamping: fingerprint.partFrames.count))
        for frame in fingerprint.partFrames {
            payload.append(milliseconds(frame.time))
            for (hash, quality) in zip(frame.hashes, frame.qualities) {
                payload.append(UInt8(clamping: quality))
                payload.append(hash)
            }
        }
        var out = ByteWriter()
        out.bytes.reserveCapacity(payload.bytes.count + 16)
        out.append(contentsOf: magic)
        out.append(version)
        out.append(UInt16(0))
        out.append(UInt32(payload.bytes.count))
        out.append(contentsOf: payload.bytes)
        out.append(CRC32.checksum(out.bytes))
        return out.bytes
    }

    public static func decode(_ bytes: some Collection<UInt8>) throws(FingerprintError) -> ReferenceFingerprint {
        let data = Array(bytes)
        guard data.count >= 12 + 4 else {
            throw FingerprintError(code: .truncated, message: "fingerprint data is too short (\(data.count) bytes)")
        }
        guard Array(data[0..<4]) == magic else {
            throw FingerprintError(code: .badMagic, message: "not a ClipTrace fingerprint (bad magic)")
        }
        var reader = ByteReader(data, from: 4)
        let formatVersion: UInt16 = try reader.read()
        guard (1...version).contains(formatVersion) else {
            throw FingerprintError(code: .unsupportedVersion,
                                   message: "fingerprint format version \(formatVersion) is not supported (1 to \(version) are)")
        }
        let _: UInt16 = try reader.read()
        let payloadLength: UInt32 = try reader.read()
        guard Int(payloadLength) == data.count - 12 - 4 else {
            throw FingerprintError(code: data.count - 16 < Int(payloadLength) ? .truncated : .trailingBytes,
                                   message: "fingerprint length field says \(payloadLength) bytes, found \(data.count - 16)")
        }
        let stored = UInt32(data[data.count - 4]) | UInt32(data[data.count - 3]) << 8
            | UInt32(data[data.count - 2]) << 16 | UInt32(data[data.count - 1]) << 24
        guard CRC32.checksum(data[0..<(data.count - 4)]) == stored else {
            throw FingerprintError(code: .checksumMismatch, message: "fingerprint checksum mismatch: the data is corrupt")
        }
        reader.end = data.count - 4
        let name = try reader.readShortString()
        let algorithmVersion: UInt16 = try reader.read()
        let duration: Double = try reader.read()
        let frameRate: Double = try reader.read()
        let sampleRate: Double = try reader.read()
        let width: UInt32 = try reader.read()
        let height: UInt32 = try reader.read()
        let rotation: UInt16 = try reader.read()
        let codec = try reader.readShortString()
        guard duration.isFinite, duration >= 0, frameRate.isFinite, frameRate >= 0, sampleRate.isFinite, sampleRate >= 0
        else {
            throw FingerprintError(code: .invalidValue, message: "fingerprint holds a non-finite or negative duration or rate")
        }
        let frameCount: UInt32 = try reader.read()
        let minimumRecord = formatVersion >= 3 ? frameRecordSize : frameRecordSize + 1
        guard Int(frameCount) <= maxFrameCount, Int(frameCount) * minimumRecord <= reader.remaining else {
            throw FingerprintError(code: .invalidValue,
                                   message: "fingerprint declares \(frameCount) frames but holds \(reader.remaining) bytes of frames")
        }
        var frames: [ReferenceFingerprint.Frame] = []
        frames.reserveCapacity(Int(frameCount))
        for _ in 0..<Int(frameCount) {
            let milliseconds: UInt32 = try reader.read()
            let quality: UInt8 = try reader.read()
            let hash = try reader.readHash()
            if formatVersion < 3 {
                // Probes: u8 count, count × { u8 orientation, u8 region, 32-byte hash }.
                let probeCount: UInt8 = try reader.read()
                try reader.skip(Int(probeCount) * (2 + 32))
            }
            frames.append(.init(time: Double(milliseconds) / 1000, hash: hash, quality: Int(quality)))
        }
        var cornerAlgorithm = ReferenceFingerprint.Algorithm.brief
        var cornerFrames: [ReferenceFingerprint.CornerFrame] = []
        var partFrames: [ReferenceFingerprint.PartFrame] = []
        if formatVersion == 3 {
            cornerAlgorithm = .init(name: try reader.readShortString(), version: Int(try reader.read() as UInt16))
            let count: UInt32 = try reader.read()
            guard Int(count) * cornerFrameHeaderSize <= reader.remaining else {
                throw FingerprintError(code: .invalidValue,
                                       message: "fingerprint declares \(count) corner frames but holds \(reader.remaining) bytes of them")
            }
            cornerFrames.reserveCapacity(Int(count))
            for _ in 0..<Int(count) {
                let milliseconds: UInt32 = try reader.read()
                let cornerCount: UInt16 = try reader.read()
                cornerFrames.append(.init(time: Double(milliseconds) / 1000,
                                          corners: try reader.readCorners(Int(cornerCount))))
            }
            // Format 3 as first written (before picture halves were stored) ends after its corner frames.
            let partCount: UInt32 = reader.remaining == 0 ? 0 : try reader.read()
            guard Int(partCount) * partFrameSize <= reader.remaining else {
                throw FingerprintError(code: .invalidValue,
                                       message: "fingerprint declares \(partCount) part frames but holds \(reader.remaining) bytes of them")
            }
            partFrames.reserveCapacity(Int(partCount))
            for _ in 0..<Int(partCount) {
                let milliseconds: UInt32 = try reader.read()
                var hashes: [PDQHash] = [], qualities: [Int] = []
                for _ in PicturePart.halves {
                    qualities.append(Int(try reader.read() as UInt8))
                    hashes.append(try reader.readHash())
                }
                partFrames.append(.init(time: Double(milliseconds) / 1000, hashes: hashes, qualities: qualities))
            }
        } else if formatVersion == 2 {
            let count: UInt32 = try reader.read()
            guard Int(count) * (cornerFrameHeaderSize + 4) <= reader.remaining else {
                throw FingerprintError(code: .invalidValue,
                                       message: "fingerprint declares \(count) feature frames but holds \(reader.remaining) bytes of them")
            }
            for _ in 0..<Int(count) {
                let milliseconds: UInt32 = try reader.read()
                let region: UInt8 = try reader.read()
                let orientation: UInt8 = try reader.read()
                let zoom: UInt16 = try reader.read()
                let cornerCount: UInt16 = try reader.read()
                guard region <= 5, orientation <= 7 else {
                    throw FingerprintError(code: .invalidValue, message: "fingerprint holds an unknown feature region")
                }
                let corners = try reader.readCorners(Int(cornerCount))
                // Only the clip itself, upright and whole, is reference data; anything else was a query's view.
                if region == 0, orientation == 0, zoom == 1000 {
                    cornerFrames.append(.init(time: Double(milliseconds) / 1000, corners: corners))
                }
            }
        }
        guard reader.remaining == 0 else {
            throw FingerprintError(code: .trailingBytes, message: "fingerprint has \(reader.remaining) unexplained bytes after its frames")
        }
        return ReferenceFingerprint(
            algorithm: .init(name: name, version: Int(algorithmVersion)), cornerAlgorithm: cornerAlgorithm,
            duration: duration, frameRate: frameRate, width: Int(width), height: Int(height), rotation: Int(rotation),
            codec: codec, sampleRate: sampleRate, frames: frames, cornerFrames: cornerFrames, partFrames: partFrames)
    }

    /// Seconds as whole milliseconds, clamped to what a `u32` holds.
    static func milliseconds(_ seconds: Double) -> UInt32 {
        let value = (seconds * 1000).rounded()
        return UInt32(clamping: Int64(value.isFinite ? min(Double(UInt32.max), max(0, value)) : 0))
    }

    /// A position in 0 ..< 1 on the 1/65536 grid.
    static func fraction(_ value: Float) -> UInt16 {
        UInt16(value.isFinite ? min(65_535, max(0, value * 65_536)) : 0)
    }
}

struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func append(contentsOf other: some Sequence<UInt8>) { bytes.append(contentsOf: other) }
    mutating func append(_ value: UInt8) { bytes.append(value) }
    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
    mutating func append(_ value: Double) { append(value.bitPattern) }
    mutating func append(_ hash: PDQHash) {
        append(hash.w0)
        append(hash.w1)
        append(hash.w2)
        append(hash.w3)
    }
    /// A length byte and up to 255 bytes of UTF-8.
    mutating func appendShortString(_ text: String) {
        let utf8 = Array(text.utf8.prefix(255))
        append(UInt8(utf8.count))
        append(contentsOf: utf8)
    }
}

struct ByteReader {
    let data: [UInt8]
    var offset: Int
    var end: Int

    init(_ data: [UInt8], from offset: Int) {
        self.data = data
        self.offset = offset
        self.end = data.count
    }

    var remaining: Int { end - offset }

    mutating func read<T: FixedWidthInteger>() throws(FingerprintError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else {
            throw FingerprintError(code: .truncated, message: "fingerprint data ends in the middle of a field")
        }
        let value = data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
        offset += size
        return T(littleEndian: value)
    }

    mutating func read() throws(FingerprintError) -> Double {
        let bits: UInt64 = try read()
        return Double(bitPattern: bits)
    }

    mutating func readHash() throws(FingerprintError) -> PDQHash {
        let w0: UInt64 = try read(), w1: UInt64 = try read(), w2: UInt64 = try read(), w3: UInt64 = try read()
        return PDQHash(w0: w0, w1: w1, w2: w2, w3: w3)
    }

    mutating func readCorners(_ count: Int) throws(FingerprintError) -> [LocalFeature] {
        guard count * FingerprintBinary.cornerRecordSize <= remaining else {
            throw FingerprintError(code: .truncated, message: "fingerprint data ends in the middle of a corner frame")
        }
        var corners: [LocalFeature] = []
        corners.reserveCapacity(count)
        for _ in 0..<count {
            let x: UInt16 = try read(), y: UInt16 = try read()
            corners.append(LocalFeature(x: Float(x) / 65_536, y: Float(y) / 65_536, descriptor: try readHash()))
        }
        return corners
    }

    mutating func readShortString() throws(FingerprintError) -> String {
        let count = Int(try read() as UInt8)
        guard remaining >= count else {
            throw FingerprintError(code: .truncated, message: "fingerprint data ends in the middle of a string")
        }
        defer { offset += count }
        return String(decoding: data[offset..<(offset + count)], as: UTF8.self)
    }

    mutating func skip(_ count: Int) throws(FingerprintError) {
        guard count <= remaining else {
            throw FingerprintError(code: .truncated, message: "fingerprint data ends in the middle of a frame")
        }
        offset += count
    }
}

/// CRC-32 (IEEE 802.3, as zlib), table-driven.
public enum CRC32 {
    static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        return crc
    }

    public static func checksum(_ bytes: some Collection<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        update(&crc, bytes)
        return crc ^ 0xFFFF_FFFF
    }

    /// Continues a running CRC (start at `0xFFFF_FFFF`, finish with `^ 0xFFFF_FFFF`) over more bytes.
    public static func update(_ crc: inout UInt32, _ bytes: some Collection<UInt8>) {
        var value = crc
        table.withUnsafeBufferPointer { table in
            for byte in bytes { value = table[Int((value ^ UInt32(byte)) & 0xFF)] ^ (value >> 8) }
        }
        crc = value
    }
}
