import ClipTraceHashing

/// Inverted tables over 24-bit keys cut from 256-bit codes: table `t` holds every row sorted by bits
/// `24·t ..< 24·t + 24` of its code. Two codes that agree on a whole key are likely near neighbours: a frame
/// re-encoded 16 bits away keeps a given key intact with probability (1 - 16/256)^24 ≈ 0.21, and one of ten
/// with 0.9, while the rows sharing a key with an unrelated code are the catalogue ÷ 16.7 million.
///
/// Per table and row: the key's low byte and the row number (5 bytes), and per table 65,537 bucket offsets
/// by the key's top 16 bits. A lookup reads one bucket, whose rows are contiguous.
package struct KeyTables {
    static let keyBits = 24

    struct Table {
        let offsets: Int  // 65,537 × u32, checked when the segment is opened
        let lows: Int  // rows × u8
        let entries: Int  // rows × u32
    }

    let storage: IndexStorage
    let tables: [Table]
    let rowCount: Int

    /// Section ids used: `base + 3·t` (offsets), `+ 1` (low bytes), `+ 2` (rows).
    static func addSections(to layout: inout SegmentLayout, base: UInt32, tables: Int, rows: Int) {
        for table in 0..<UInt32(tables) {
            layout.add(base + 3 * table, bytes: 65_537 * 4)
            layout.add(base + 3 * table + 1, bytes: rows)
            layout.add(base + 3 * table + 2, bytes: rows * 4)
        }
    }

    init(storage: IndexStorage, header: SegmentHeader, base: UInt32, tables: Int, rows: Int) throws(IndexDamage) {
        self.storage = storage
        rowCount = rows
        var built: [Table] = []
        for table in 0..<UInt32(tables) {
            let offsets = try header.section(base + 3 * table, name: storage.name, bytes: 65_537 * 4)
            let lows = try header.section(base + 3 * table + 1, name: storage.name, bytes: rows)
            let entries = try header.section(base + 3 * table + 2, name: storage.name, bytes: rows * 4)
            try storage.requireIntact(offsets, "a key table's bucket offsets")
            // Offsets must rise to the row count: a lookup then never leaves its table.
            let pointer = storage.pointer(UInt32.self, at: offsets.lowerBound)
            var previous: UInt32 = 0
            for bucket in 0...65_536 {
                guard pointer[bucket] >= previous else {
                    throw IndexDamage(storage: storage.name, message: "a key table's bucket offsets do not rise")
                }
                previous = pointer[bucket]
            }
            guard pointer[0] == 0, Int(previous) == rows else {
                throw IndexDamage(storage: storage.name, message: "a key table's bucket offsets do not add up")
            }
            built.append(Table(offsets: offsets.lowerBound, lows: lows.lowerBound, entries: entries.lowerBound))
        }
        self.tables = built
    }

    /// Bits `24·table ..< 24·table + 24` of the code.
    @inline(__always)
    package static func key(_ code: PDQHash, _ table: Int) -> UInt32 {
        let bit = table * keyBits
        let words = (code.w0, code.w1, code.w2, code.w3)
        func word(_ index: Int) -> UInt64 {
            switch index {
            case 0: words.0
            case 1: words.1
            case 2: words.2
            default: words.3
            }
        }
        let index = bit / 64, offset = bit % 64
        var value = word(index) >> UInt64(offset)
        if offset > 64 - keyBits, index < 3 { value |= word(index + 1) << UInt64(64 - offset) }
        return UInt32(truncatingIfNeeded: value) & (1 << UInt32(keyBits) - 1)
    }

    /// Sorts rows by key into each table of `image` (laid out by ``addSections(to:base:tables:rows:)``).
    /// `code(row)` gives each row's code; `written` hears each finished section. Large segments use a counting sort over all 16.7 million keys,
    /// small ones a comparison sort that does not touch them all.
    static func build(into image: UnsafeMutableRawBufferPointer, layout: SegmentLayout, base: UInt32, tables: Int,
                      rows: Int, written: (Range<Int>) -> Void, code: (Int) -> PDQHash) {
        precondition(rows < Int(UInt32.max), "row numbers are 32-bit")
        let counting = rows >= 1 << 20
        var counts = [UInt32](repeating: 0, count: counting ? (1 << keyBits) + 1 : 0)
        // The counting sort scatters rows all over a table: done in memory and copied out in order, since
        // scattering into a mapped file makes the kernel write each page back many times (a 26 GB index wrote
        // 170 GB before this).
        var scatteredEntries = [UInt32](repeating: 0, count: counting ? rows : 0)
        var scatteredLows = [UInt8](repeating: 0, count: counting ? rows : 0)
        for table in 0..<tables {
            let offsets = (image.baseAddress! + layout.sections[base + 3 * UInt32(table)]!.lowerBound)
                .assumingMemoryBound(to: UInt32.self)
            let lows = (image.baseAddress! + layout.sections[base + 3 * UInt32(table) + 1]!.lowerBound)
                .assumingMemoryBound(to: UInt8.self)
            let entries = (image.baseAddress! + layout.sections[base + 3 * UInt32(table) + 2]!.lowerBound)
                .assumingMemoryBound(to: UInt32.self)
            for bucket in 0...65_536 { offsets[bucket] = 0 }
            if counting {
                for index in counts.indices { counts[index] = 0 }
                for row in 0..<rows { counts[Int(key(code(row), table)) + 1] += 1 }
                for value in 0..<(1 << keyBits) { counts[value + 1] += counts[value] }
                for high in 0...65_536 { offsets[high] = counts[min(high << 8, 1 << keyBits)] }
                scatteredEntries.withUnsafeMutableBufferPointer { scatteredEntries in
                    scatteredLows.withUnsafeMutableBufferPointer { scatteredLows in
                        for row in 0..<rows {
                            let key = Int(key(code(row), table))
                            let position = Int(counts[key])
                            counts[key] += 1
                            scatteredEntries[position] = UInt32(row)
                            scatteredLows[position] = UInt8(key & 0xFF)
                        }
                        entries.update(from: scatteredEntries.baseAddress!, count: rows)
                        lows.update(from: scatteredLows.baseAddress!, count: rows)
                    }
                }
            } else {
                let keyed = (0..<rows).map { UInt64(key(code($0), table)) << 32 | UInt64($0) }.sorted()
                for (position, item) in keyed.enumerated() {
                    entries[position] = UInt32(truncatingIfNeeded: item)
                    lows[position] = UInt8(truncatingIfNeeded: item >> 32)
                    offsets[Int(item >> 40) + 1] += 1
                }
                for high in 0..<65_536 { offsets[high + 1] += offsets[high] }
            }
            for section in 0..<UInt32(3) { written(layout.sections[base + 3 * UInt32(table) + section]!) }
        }
    }

    /// Calls `body(row)` for every row of `table` whose key is `key`, or, with `lowNeighbours`, whose key differs
    /// from it in at most one bit of the low byte. False when the rows read are damaged.
    @inline(__always)
    func lookup(_ key: UInt32, table index: Int, lowNeighbours: Bool, _ body: (Int) -> Void) -> Bool {
        let table = tables[index]
        let high = Int(key >> 8), low = UInt8(key & 0xFF)
        let offsets = storage.pointer(UInt32.self, at: table.offsets)
        let bucketStart = Int(offsets[high]), bucketEnd = Int(offsets[high + 1])
        guard bucketStart < bucketEnd else { return true }
        guard storage.intact((table.lows + bucketStart)..<(table.lows + bucketEnd)) else { return false }
        let lows = storage.pointer(UInt8.self, at: table.lows)
        let entries = storage.pointer(UInt32.self, at: table.entries)
        var start = bucketStart, end = bucketEnd
        if !lowNeighbours {
            // Binary search for the first row with this low byte; its rows follow.
            while start < end {
                let middle = (start + end) / 2
                if lows[middle] < low { start = middle + 1 } else { end = middle }
            }
            end = start
            while end < bucketEnd, lows[end] == low { end += 1 }
            guard start < end else { return true }
        }
        guard storage.intact((table.entries + 4 * start)..<(table.entries + 4 * end)) else { return false }
        for position in start..<end where !lowNeighbours || (lows[position] ^ low).nonzeroBitCount <= 1 {
            let row = Int(entries[position])
            guard row < rowCount else { return false }
            body(row)
        }
        return true
    }

    /// Calls `body(row)` for every row sharing a whole key with `code` in one of the tables or, with `radius` 1,
    /// a key one bit away. The exact key and its eight low-byte neighbours share one bucket: one pass over it,
    /// then the sixteen high-bit neighbours. False when the rows read are damaged.
    @inline(__always)
    func lookup(_ code: PDQHash, radius: Int, _ body: (Int) -> Void) -> Bool {
        for table in tables.indices {
            let exact = Self.key(code, table)
            guard radius > 0 else {
                guard lookup(exact, table: table, lowNeighbours: false, body) else { return false }
                continue
            }
            guard lookup(exact, table: table, lowNeighbours: true, body) else { return false }
            for flip in 8..<Self.keyBits {
                guard lookup(exact ^ (1 << UInt32(flip)), table: table, lowNeighbours: false, body) else { return false }
            }
        }
        return true
    }

    /// Bytes per row over all tables.
    static func bytesPerRow(tables: Int) -> Int { tables * 5 }
}
