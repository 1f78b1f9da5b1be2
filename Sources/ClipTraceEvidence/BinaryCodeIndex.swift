import ClipTraceHashing

/// Multi-index hashing over 256-bit binary codes (Norouzi et al.): each code is cut into sixteen 16-bit words
/// and each word has an inverted table. Two codes within distance `d` agree exactly on at least one word when
/// `d < 16`, and with high probability on one word up to a flipped bit for much larger `d`, so probing each
/// word and its 16 one-bit neighbours finds near neighbours while reading a tiny share of the codes.
///
/// Serves PDQ hashes (``HashIndex``) and corner descriptors (``CornerIndex``) alike: an entry is a position in
/// the caller's arrays. Built once, then immutable and `Sendable`.
public final class BinaryCodeIndex: Sendable {
    let codes: [PDQHash]
    /// For word table `t`, the entries with word value `v` are `postings[t][offsets[t][v] ..< offsets[t][v + 1]]`.
    let offsets: [[UInt32]]
    let postings: [[UInt32]]

    public var count: Int { codes.count }

    /// Resident bytes: the codes, sixteen 4-byte postings per code and the offset tables.
    public var memoryBytes: Int { codes.count * (MemoryLayout<PDQHash>.stride + 16 * 4) + 16 * 65_537 * 4 }

    public init(codes: [PDQHash]) {
        self.codes = codes
        // Counting sort per word table: compact, cache-friendly posting lists.
        var allOffsets: [[UInt32]] = [], allPostings: [[UInt32]] = []
        for table in 0..<16 {
            var counts = [UInt32](repeating: 0, count: 65_537)
            for code in codes { counts[Int(code.word16(table)) + 1] += 1 }
            for value in 0..<65_536 { counts[value + 1] += counts[value] }
            var cursor = counts
            var posting = [UInt32](repeating: 0, count: codes.count)
            for (entry, code) in codes.enumerated() {
                let word = Int(code.word16(table))
                posting[Int(cursor[word])] = UInt32(entry)
                cursor[word] += 1
            }
            allOffsets.append(counts)
            allPostings.append(posting)
        }
        offsets = allOffsets
        postings = allPostings
    }

    /// The code stored at `entry`.
    @inline(__always) public subscript(entry: Int) -> PDQHash { codes[entry] }

    /// Calls `body(entry, distance)` once for each code within `maxDistance` of `code` that shares a 16-bit word
    /// with it up to `wordRadius` flipped bits (0 or 1). `seen` (one slot per entry) de-duplicates entries
    /// across calls that use the same `stamp`. `tables` below 16 reads only the first word tables (a cheaper,
    /// partial search).
    public func search(
        _ code: PDQHash, maxDistance: Int, wordRadius: Int, seen: inout [UInt32], stamp: UInt32, tables: Int = 16,
        _ body: (Int, Int) -> Void
    ) {
        precondition(seen.count >= codes.count, "one seen slot per entry")
        codes.withUnsafeBufferPointer { codes in
            seen.withUnsafeMutableBufferPointer { seen in
                for table in 0..<min(16, max(0, tables)) {
                    let word = code.word16(table)
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
                                    let distance = codes[entry].distance(to: code)
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
