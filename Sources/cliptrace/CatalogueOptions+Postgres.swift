import ClipTraceCatalogue
import ClipTracePostgres
import Foundation

extension CatalogueOptions {
    /// The catalogue, which must be on a PostgreSQL server (the job queue lives there).
    func openServer(_ access: CatalogueAccess, for command: String) throws -> PostgresCatalogue {
        guard PostgresLocation.isURL(resolvedPath) else {
            Terminal.error("\(command) needs a catalogue on a PostgreSQL server (--catalogue postgres://USER@HOST:PORT/DATABASE or $CLIPTRACE_CATALOGUE); \(resolvedPath) is a file. On one machine, use cliptrace scan")
            throw ExitStatus.fatal
        }
        guard let catalogue = try open(access) as? PostgresCatalogue else { throw ExitStatus.fatal }
        return catalogue
    }
}
