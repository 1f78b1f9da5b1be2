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
    /// For word table `t`, the entries in order of their word value (stable: entries in order within a value).
    let postings: [[UInt32]]
    /// Where the entries of word value `v` start in `postings[t]`: `starts[t][v]`, up to `starts[t][v + 1]`. A
    /// small index (``compactLimit``) keeps the starts of its top 12 bits alone, `starts[t][v >> 4]`, and the
    /// word of each posting, `words[t]`, to find `v` among the few entries there: 65,537 starts are 256 KiB a
    /// table, 4 MiB an index, when a catalogue of twenty clips holds a few thousand codes.
    let starts: [[UInt32]]
    let words: [[UInt16]]
    let isCompact: Bool

    /// Codes up to which the word tables are compact: there they take at most what full tables take.
    public static let compactLimit = 65_536

    public var count: Int { codes.count }

    /// Resident bytes: the codes, sixteen 4-byte postings per code and the word tables.
    public var memoryBytes: Int {
        codes.count * (MemoryLayout<PDQHash>.stride + 16 * 4)
            + starts.reduce(0) { $0 + $1.count * 4 } + words.reduce(0) { $0 + $1.count * 2 }
    }

    /// Indexes `codes`; an entry is a position in it. Up to `compactLimit` codes the word tables are compact
    /// (the same entries, in the same order, from less memory).
    public init(codes: [PDQHash], compactLimit: Int = BinaryCodeIndex.compactLimit) {
        self.codes = codes
        isCompact = codes.count <= compactLimit
        // Counting sort per word table: compact, cache-friendly posting lists.
        var allStarts: [[UInt32]] = [], allWords: [[UInt16]] = [], allPostings: [[UInt32]] = []
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
            if isCompact {
                allWords.append(posting.map { codes[Int($0)].word16(table) })
                allStarts.append((0...4_096).map { counts[$0 << 4] })
            } else {
                allStarts.append(counts)
            }
            allPostings.append(posting)
        }
        starts = allStarts
        words = allWords
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
                    let compactWords = isCompact ? words[table] : []
                    postings[table].withUnsafeBufferPointer { postings in
                        starts[table].withUnsafeBufferPointer { starts in
                            compactWords.withUnsafeBufferPointer { words in
                                let probes = wordRadius > 0 ? 17 : 1
                                for probe in 0..<probes {
                                    let value = probe == 0 ? word : word ^ (1 << UInt16(probe - 1))
                                    var (position, end) = Self.run(of: value, starts: starts, words: words, compact: isCompact)
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

    /// Where the entries of word `value` lie in a table's postings: read off the starts of full tables, or found
    /// among the few words that share its top 12 bits in a compact one.
    @inline(__always)
    private static func run(
        of value: UInt16, starts: UnsafeBufferPointer<UInt32>, words: UnsafeBufferPointer<UInt16>, compact: Bool
    ) -> (start: Int, end: Int) {
        guard compact else { return (Int(starts[Int(value)]), Int(starts[Int(value) + 1])) }
        var start = Int(starts[Int(value >> 4)])
        let groupEnd = Int(starts[Int(value >> 4) + 1])
        while start < groupEnd, words[start] < value { start += 1 }
        var end = start
        while end < groupEnd, words[end] == value { end += 1 }
        return (start, end)
    }
}
