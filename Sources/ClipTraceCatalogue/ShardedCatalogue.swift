import ClipTraceFingerprint

/// Which part of a catalogue one worker searches: clip `id` belongs to shard `id mod count`. Every clip is in
/// exactly one shard, and a clip stays in its shard whatever is registered or removed around it.
public struct Shard: Hashable, Sendable, CustomStringConvertible {
    /// 0-based.
    public var index: Int
    public var count: Int

    public static let whole = Shard(index: 0, count: 1)

    public init(index: Int, count: Int) {
        precondition(count >= 1 && (0..<count).contains(index), "shard \(index) of \(count)")
        self.index = index
        self.count = count
    }

    /// Reads "K/N" (K from 1 to N, as users count).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]), n >= 1, (1...n).contains(k) else {
            return nil
        }
        self.init(index: k - 1, count: n)
    }

    public func contains(_ id: Int64) -> Bool { count == 1 || Int(((id % Int64(count)) + Int64(count)) % Int64(count)) == index }

    /// "K/N", counted from 1.
    public var description: String { "\(index + 1)/\(count)" }
}

/// The clips of one shard of a catalogue, as a catalogue of their own: what a worker's search index holds.
/// Registering and removing go to the whole catalogue; the index is saved apart from the whole catalogue's.
public struct ShardedCatalogue: Catalogue {
    public let base: any Catalogue
    public let shard: Shard

    public init(_ base: any Catalogue, shard: Shard) {
        self.base = base
        self.shard = shard
    }

    public func register(_ clip: NewClip) throws(CatalogueError) -> RegistrationOutcome { try base.register(clip) }

    public func importClip(_ clip: NewClip, as original: ClipRecord) throws(CatalogueError) -> RegistrationOutcome {
        try base.importClip(clip, as: original)
    }

    public func clips() throws(CatalogueError) -> [ClipRecord] { try base.clips().filter { shard.contains($0.id) } }

    public func clip(id: Int64) throws(CatalogueError) -> ClipRecord? {
        shard.contains(id) ? try base.clip(id: id) : nil
    }

    public func clip(sha256: String) throws(CatalogueError) -> ClipRecord? {
        try base.clip(sha256: sha256).flatMap { shard.contains($0.id) ? $0 : nil }
    }

    public func fingerprint(id: Int64) throws(CatalogueError) -> ReferenceFingerprint? {
        shard.contains(id) ? try base.fingerprint(id: id) : nil
    }

    public func loadFingerprints() throws(CatalogueError) -> CatalogueContents {
        try fingerprints(of: try clips().map(\.id), name: "shard \(shard)")
    }

    public func forEachFingerprint(ids: [Int64], _ body: (ClipRecord, Result<ReferenceFingerprint, DamagedClip>) throws -> Void) throws {
        try base.forEachFingerprint(ids: ids.filter { shard.contains($0) }, body)
    }

    public func remove(id: Int64) throws(CatalogueError) -> Bool { try base.remove(id: id) }

    /// The whole catalogue's location with `-shard-K-of-N` appended: each shard keeps its own index.
    public var indexLocation: String? {
        guard shard.count > 1 else { return base.indexLocation }
        return base.indexLocation.map { "\($0)-shard-\(shard.index + 1)-of-\(shard.count)" }
    }
}
