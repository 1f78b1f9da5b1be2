import ClipTraceHashing

/// The compact binary form of a ``Fingerprint``, which the catalogue stores and tools exchange.
///
/// Layout (little-endian):
/// ```
/// "CTFP"            magic, 4 bytes
/// u16 version       format version: 1, or 2 when local features follow the frames
/// u16 flags         0
/// u32 payloadLength bytes between this field and the checksum
/// payload:
///   u8  nameLength, name bytes          algorithm name
///   u16 algorithmVersion
///   f64 duration, f64 frameRate, f64 sampleRate
///   u32 width, u32 height, u16 rotation
///   u8  codecLength, codec bytes
///   u32 frameCount
///   frameCount × { u32 timeMilliseconds, u8 quality, 32 bytes hash (w0…w3 little-endian),
///                  u8 probeCount, probeCount × { u8 orientation, u8 region, 32 bytes hash } }
///   version 2 only:
///   u32 featureFrameCount
///   featureFrameCount × { u32 timeMilliseconds, u8 region, u8 orientation, u16 zoomThousandths, u16 featureCount,
///                         featureCount × { u16 x, u16 y (fractions × 65536), 32 bytes descriptor } }
/// u32 CRC-32 (IEEE) of everything before it
/// ```
public enum FingerprintBinary {
    public static let magic: [UInt8] = Array("CTFP".utf8)
    /// The newest format version; fingerprints without local features are still written as version 1, so
    /// that older readers keep reading them.
    public static let version: UInt16 = 2
    static let featureRecordSize = 2 + 2 + 32
    static let featureFrameHeaderSize = 4 + 1 + 1 + 2 + 2
    /// Bytes per frame record without probes.
    public static let frameRecordSize = 4 + 1 + 32 + 1
    static let probeRecordSize = 1 + 1 + 32
    /// A fingerprint larger than this is refused before any allocation (one week at 60 samples/s).
    public static let maxFrameCount = 40_000_000

    public static func encode(_ fingerprint: Fingerprint) -> [UInt8] {
        var payload = ByteWriter()
        let name = Array(fingerprint.algorithm.name.utf8.prefix(255))
        payload.append(UInt8(name.count))
        payload.append(contentsOf: name)
        payload.append(UInt16(clamping: fingerprint.algorithm.version))
        payload.append(fingerprint.duration)
        payload.append(fingerprint.frameRate)
        payload.append(fingerprint.sampleRate)
        payload.append(UInt32(clamping: fingerprint.width))
        payload.append(UInt32(clamping: fingerprint.height))
        payload.append(UInt16(clamping: fingerprint.rotation))
        let codec = Array(fingerprint.codec.utf8.prefix(255))
        payload.append(UInt8(codec.count))
        payload.append(contentsOf: codec)
        payload.append(UInt32(clamping: fingerprint.frames.count))
        payload.bytes.reserveCapacity(payload.bytes.count + fingerprint.frames.count * frameRecordSize)
        for frame in fingerprint.frames {
            let milliseconds = (frame.time * 1000).rounded()
            payload.append(UInt32(clamping: Int64(milliseconds.isFinite ? max(0, milliseconds) : 0)))
            payload.append(UInt8(clamping: frame.quality))
            payload.append(frame.hash.w0)
            payload.append(frame.hash.w1)
            payload.append(frame.hash.w2)
            payload.append(frame.hash.w3)
            let probes = frame.probes.prefix(255)
            payload.append(UInt8(probes.count))
            for probe in probes {
                payload.append(UInt8(probe.orientation.rawValue))
                payload.append(probe.region.rawValue)
                payload.append(probe.hash.w0)
                payload.append(probe.hash.w1)
                payload.append(probe.hash.w2)
                payload.append(probe.hash.w3)
            }
        }
        if !fingerprint.featureFrames.isEmpty {
            payload.append(UInt32(clamping: fingerprint.featureFrames.count))
            for frame in fingerprint.featureFrames {
                let milliseconds = (frame.time * 1000).rounded()
                payload.append(UInt32(clamping: Int64(milliseconds.isFinite ? max(0, milliseconds) : 0)))
                payload.append(frame.region.rawValue)
                payload.append(UInt8(frame.orientation.rawValue))
                let zoom = (frame.zoom * 1000).rounded()
                payload.append(UInt16(zoom.isFinite ? min(65_535, max(0, zoom)) : 0))
                let features = frame.features.prefix(Int(UInt16.max))
                payload.append(UInt16(features.count))
                for feature in features {
                    func fraction(_ value: Float) -> UInt16 {
                        UInt16(value.isFinite ? min(65_535, max(0, value * 65_536)) : 0)
                    }
                    payload.append(fraction(feature.x))
                    payload.append(fraction(feature.y))
                    payload.append(feature.descriptor.w0)
                    payload.append(feature.descriptor.w1)
                    payload.append(feature.descriptor.w2)
                    payload.append(feature.descriptor.w3)
                }
            }
        }
        var out = ByteWriter()
        out.append(contentsOf: magic)
        out.append(fingerprint.featureFrames.isEmpty ? UInt16(1) : version)
        out.append(UInt16(0))
        out.append(UInt32(payload.bytes.count))
        out.append(contentsOf: payload.bytes)
        out.append(CRC32.checksum(out.bytes))
        return out.bytes
    }

    public static func decode(_ bytes: some Collection<UInt8>) throws(FingerprintError) -> Fingerprint {
        let data = Array(bytes)
        guard data.count >= 12 + 4 else {
            throw FingerprintError(code: .truncated, message: "fingerprint data is too short (\(data.count) bytes)")
        }
        guard Array(data[0..<4]) == magic else {
            throw FingerprintError(code: .badMagic, message: "not a ClipTrace fingerprint (bad magic)")
        }
        var reader = ByteReader(data, from: 4)
        let formatVersion: UInt16 = try reader.read()
        guard formatVersion == 1 || formatVersion == version else {
            throw FingerprintError(code: .unsupportedVersion,
                                   message: "fingerprint format version \(formatVersion) is not supported (expected 1 or \(version))")
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
        let nameLength: UInt8 = try reader.read()
        let name = try reader.readString(count: Int(nameLength))
        let algorithmVersion: UInt16 = try reader.read()
        let duration: Double = try reader.read()
        let frameRate: Double = try reader.read()
        let sampleRate: Double = try reader.read()
        let width: UInt32 = try reader.read()
        let height: UInt32 = try reader.read()
        let rotation: UInt16 = try reader.read()
        let codecLength: UInt8 = try reader.read()
        let codec = try reader.readString(count: Int(codecLength))
        let frameCount: UInt32 = try reader.read()
        guard Int(frameCount) <= maxFrameCount, Int(frameCount) * frameRecordSize <= reader.remaining else {
            throw FingerprintError(code: .invalidValue,
                                   message: "fingerprint declares \(frameCount) frames but holds \(reader.remaining) bytes of frames")
        }
        guard duration.isFinite, duration >= 0, frameRate.isFinite, frameRate >= 0, sampleRate.isFinite, sampleRate >= 0
        else {
            throw FingerprintError(code: .invalidValue, message: "fingerprint holds a non-finite or negative duration or rate")
        }
        var frames: [Fingerprint.Frame] = []
        frames.reserveCapacity(Int(frameCount))
        for _ in 0..<Int(frameCount) {
            let milliseconds: UInt32 = try reader.read()
            let quality: UInt8 = try reader.read()
            let w0: UInt64 = try reader.read(), w1: UInt64 = try reader.read()
            let w2: UInt64 = try reader.read(), w3: UInt64 = try reader.read()
            let probeCount: UInt8 = try reader.read()
            var probes: [Fingerprint.Probe] = []
            if probeCount > 0 {
                guard Int(probeCount) * probeRecordSize <= reader.remaining else {
                    throw FingerprintError(code: .truncated, message: "fingerprint data ends in the middle of a frame")
                }
                probes.reserveCapacity(Int(probeCount))
                for _ in 0..<Int(probeCount) {
                    let orientationValue: UInt8 = try reader.read()
                    let regionValue: UInt8 = try reader.read()
                    guard let orientation = Dihedral(rawValue: Int(orientationValue)),
                          let region = Fingerprint.ProbeRegion(rawValue: regionValue)
                    else {
                        throw FingerprintError(code: .invalidValue, message: "fingerprint holds an unknown probe kind")
                    }
                    let p0: UInt64 = try reader.read(), p1: UInt64 = try reader.read()
                    let p2: UInt64 = try reader.read(), p3: UInt64 = try reader.read()
                    probes.append(.init(hash: PDQHash(w0: p0, w1: p1, w2: p2, w3: p3), orientation: orientation,
                                        region: region))
                }
            }
            frames.append(.init(time: Double(milliseconds) / 1000, hash: PDQHash(w0: w0, w1: w1, w2: w2, w3: w3),
                                quality: Int(quality), probes: probes))
        }
        var featureFrames: [Fingerprint.FeatureFrame] = []
        if formatVersion >= 2 {
            let count: UInt32 = try reader.read()
            guard Int(count) * featureFrameHeaderSize <= reader.remaining else {
                throw FingerprintError(code: .invalidValue,
                                       message: "fingerprint declares \(count) feature frames but holds \(reader.remaining) bytes of them")
            }
            featureFrames.reserveCapacity(Int(count))
            for _ in 0..<Int(count) {
                let milliseconds: UInt32 = try reader.read()
                let regionValue: UInt8 = try reader.read()
                let orientationValue: UInt8 = try reader.read()
                let zoom: UInt16 = try reader.read()
                let featureCount: UInt16 = try reader.read()
                guard let region = Fingerprint.ProbeRegion(rawValue: regionValue),
                      let orientation = Dihedral(rawValue: Int(orientationValue))
                else {
                    throw FingerprintError(code: .invalidValue, message: "fingerprint holds an unknown feature region")
                }
                guard Int(featureCount) * featureRecordSize <= reader.remaining else {
                    throw FingerprintError(code: .truncated, message: "fingerprint data ends in the middle of a feature frame")
                }
                var features: [LocalFeature] = []
                features.reserveCapacity(Int(featureCount))
                for _ in 0..<Int(featureCount) {
                    let x: UInt16 = try reader.read(), y: UInt16 = try reader.read()
                    let d0: UInt64 = try reader.read(), d1: UInt64 = try reader.read()
                    let d2: UInt64 = try reader.read(), d3: UInt64 = try reader.read()
                    features.append(LocalFeature(x: Float(x) / 65_536, y: Float(y) / 65_536,
                                                 descriptor: PDQHash(w0: d0, w1: d1, w2: d2, w3: d3)))
                }
                featureFrames.append(.init(time: Double(milliseconds) / 1000, region: region, orientation: orientation,
                                           zoom: Double(zoom) / 1000, features: features))
            }
        }
        guard reader.remaining == 0 else {
            throw FingerprintError(code: .trailingBytes, message: "fingerprint has \(reader.remaining) unexplained bytes after its frames")
        }
        return Fingerprint(
            algorithm: .init(name: name, version: Int(algorithmVersion)), duration: duration, frameRate: frameRate,
            width: Int(width), height: Int(height), rotation: Int(rotation), codec: codec, sampleRate: sampleRate,
            frames: frames, featureFrames: featureFrames)
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
        var value: T = 0
        for index in 0..<size { value |= T(truncatingIfNeeded: data[offset + index]) << (8 * index) }
        offset += size
        return value
    }

    mutating func read() throws(FingerprintError) -> Double {
        let bits: UInt64 = try read()
        return Double(bitPattern: bits)
    }

    mutating func readString(count: Int) throws(FingerprintError) -> String {
        guard remaining >= count else {
            throw FingerprintError(code: .truncated, message: "fingerprint data ends in the middle of a string")
        }
        defer { offset += count }
        return String(decoding: data[offset..<(offset + count)], as: UTF8.self)
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
        table.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        }
        return crc ^ 0xFFFF_FFFF
    }
}
