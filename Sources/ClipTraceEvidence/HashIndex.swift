import ClipTraceFingerprint
import ClipTraceHashing

/// A reference clip as the matcher knows it.
public struct IndexedClip: Hashable, Sendable {
    /// The catalogue's id.
    public var id: Int64
    public var title: String
    public var duration: Double

    public init(id: Int64, title: String, duration: Double) {
        self.id = id
        self.title = title
        self.duration = duration
    }
}

/// Multi-index hashing over PDQ hashes (Norouzi et al.): the 256 bits are cut into sixteen 16-bit words and
/// each word has an inverted table. Two hashes within distance `d` agree exactly on at least one word when
/// `d < 16`, and with high probability on one word up to a flipped bit for much larger `d`, so probing each
/// word and its 16 one-bit neighbours finds near neighbours while reading a tiny share of the catalogue.
///
/// Built once, then immutable and `Sendable`: scans share one index across tasks.
public final class HashIndex: Sendable {
    public let clips: [IndexedClip]
    /// Per indexed frame: hash, owning clip (index into `clips`), time in seconds.
    let hashes: [PDQHash]
    let owners: [Int32]
    let times: [Float]
    /// For word table `t`, the entries with word value `v` are `postings[t][offsets[t][v] ..< offsets[t][v + 1]]`.
    let offsets: [[UInt32]]
    let postings: [[UInt32]]
    /// Frames below this PDQ quality were not indexed: flat, dark or blurred frames match anything.
    public let minimumQuality: Int

    public var frameCount: Int { hashes.count }

    /// Approximate resident bytes of the index structures.
    public var memoryBytes: Int {
        hashes.count * (MemoryLayout<PDQHash>.stride + 4 + 4 + 16 * 4) + 16 * 65_537 * 4
    }

    public convenience init(clips: [(IndexedClip, Fingerprint)],
                            minimumQuality: Int = MatchingOptions.defaultMinimumQuality) {
        let flat = Self.flatten(clips, minimumQuality: minimumQuality)
        self.init(clips: clips.map(\.0), hashes: flat.hashes, owners: flat.owners, times: flat.times,
                  minimumQuality: minimumQuality)
    }

    /// Every indexed hash of the clips in order (frames of quality ≥ `minimumQuality`, each followed by its
    /// probes, which for references are crops), with its clip and time.
    static func flatten(_ clips: [(IndexedClip, Fingerprint)], minimumQuality: Int)
        -> (hashes: [PDQHash], owners: [Int32], times: [Float])
    {
        var hashes: [PDQHash] = [], owners: [Int32] = [], times: [Float] = []
        let total = clips.reduce(0) { $0 + $1.1.frames.reduce(0) { $0 + 1 + $1.probes.count } }
        hashes.reserveCapacity(total)
        owners.reserveCapacity(total)
        times.reserveCapacity(total)
        for (clipIndex, (_, fingerprint)) in clips.enumerated() {
            for frame in fingerprint.frames where frame.quality >= minimumQuality {
                hashes.append(frame.hash)
                owners.append(Int32(clipIndex))
                times.append(Float(frame.time))
                // Reference crops are indexed beside the frame: a cropped copy lands on one of them.
                for probe in frame.probes {
                    hashes.append(probe.hash)
                    owners.append(Int32(clipIndex))
                    times.append(Float(frame.time))
                }
            }
        }
        return (hashes, owners, times)
    }

    init(clips: [IndexedClip], hashes: [PDQHash], owners: [Int32], times: [Float], minimumQuality: Int) {
        self.minimumQuality = minimumQuality
        self.clips = clips
        self.hashes = hashes
        self.owners = owners
        self.times = times
        // Counting sort per word table: compact, cache-friendly posting lists.
        var allOffsets: [[UInt32]] = [], allPostings: [[UInt32]] = []
        for table in 0..<16 {
            var counts = [UInt32](repeating: 0, count: 65_537)
            for hash in hashes { counts[Int(hash.word16(table)) + 1] += 1 }
            for value in 0..<65_536 { counts[value + 1] += counts[value] }
            var cursor = counts
            var posting = [UInt32](repeating: 0, count: hashes.count)
            for (entry, hash) in hashes.enumerated() {
                let word = Int(hash.word16(table))
                posting[Int(cursor[word])] = UInt32(entry)
                cursor[word] += 1
            }
            allOffsets.append(counts)
            allPostings.append(posting)
        }
        offsets = allOffsets
        postings = allPostings
    }

    /// Calls `body(entry, distance)` once for each indexed frame within `maxDistance` of `hash` that shares a
    /// 16-bit word with it up to `wordRadius` flipped bits (0 or 1). `seen` de-duplicates entries across calls
    /// that use the same `stamp`. `tables` below 16 reads only the first word tables (a cheaper, partial search).
    func search(
        _ hash: PDQHash, maxDistance: Int, wordRadius: Int, seen: inout [UInt32], stamp: UInt32, tables: Int = 16,
        _ body: (Int, Int) -> Void
    ) {
        hashes.withUnsafeBufferPointer { hashes in
            seen.withUnsafeMutableBufferPointer { seen in
                for table in 0..<min(16, max(0, tables)) {
                    let word = hash.word16(table)
                    offsets[table].withUnsafeBufferPointer { offsets in
                        postings[table].withUnsafeBufferPointer { postings in
                            var probe = 0
                            let probes = wordRadius > 0 ? 17 : 1
                            while probe < probes {
                                let value = probe == 0 ? word : word ^ (1 << UInt16(probe - 1))
                                probe += 1
                                let start = Int(offsets[Int(value)]), end = Int(offsets[Int(value) + 1])
                                var position = start
                                while position < end {
                                    let entry = Int(postings[position])
                                    position += 1
                                    if seen[entry] == stamp { continue }
                                    seen[entry] = stamp
                                    let distance = hashes[entry].distance(to: hash)
                                    if distance <= maxDistance { body(entry, distance) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
