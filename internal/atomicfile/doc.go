// Package atomicfile is the one way dcrnn writes a file: to a temporary file
// in the destination's directory, renamed over the destination only when it
// is complete. Model files, checkpoints, JSON metrics, prediction CSVs,
// comparison reports and plots, generated data and split parts all go
// through it.
//
// # Guarantees
//
// Create(path) returns a File whose writes go to a temporary file named
//
//	.BASE.tmp-PID-RANDOM
//
// in path's directory (BASE = filepath.Base(path), PID = the writer's process
// id, RANDOM from os.CreateTemp), so the rename stays on one file system.
// Writes are buffered (256 KiB; a write larger than that mostly bypasses it),
// so a write error may surface at a later Write or at Commit.
//
// Commit flushes the buffer, sets the mode to Mode (0644, whatever the umask
// and although os.CreateTemp makes 0600 files), fsyncs and closes the file,
// renames it over path and fsyncs the directory. Until the rename, path holds
// its old content (or nothing); after it, the complete new content: a reader
// or a crash (kill -9, power loss, on a local file system that honours
// fsync) never sees a partial file at path. When Commit returns nil the new
// content is durable. If anything fails before the rename, the temporary
// file is removed and path is untouched; if only the directory fsync fails,
// path already holds the new content and the error says so.
//
// Abort closes and removes the temporary file and leaves path untouched. It
// does nothing after Commit, so callers write
//
//	f, err := atomicfile.Create(path)
//	if err != nil { ... }
//	defer f.Abort()
//	... write to f ...
//	return f.Commit()
//
// The rename replaces path by a new file: hard links to the old file keep
// the old content, a symbolic link at path is replaced rather than followed,
// and the old file's mode and owner are not carried over.
//
// # Leftovers of a crash
//
// A process killed between Create and Commit leaves its temporary file
// behind. The next Create for the same path removes, in path's directory:
//
//   - .BASE.tmp-PID-RANDOM files whose process is gone. On unix that is
//     kill(PID, 0) failing with ESRCH; elsewhere, files not modified for an
//     hour. Files of a live process are kept, since another writer may be
//     running (so a stale file whose PID was reused by an unrelated process
//     stays until that process exits). Files carrying this process's own PID
//     are removed unless a File of this process still has them open (a
//     previous process with the same PID, as in containers, left them).
//   - the names the writers before this package used, .tmp-BASE-RANDOM and
//     .BASE.tmp-RANDOM, when not modified for a minute (so that a still
//     running older binary is not disturbed).
//
// Nothing else is touched. Removal is best effort: a file that cannot be
// listed or removed does not fail the Create.
//
// A writer whose names are not written again (numbered checkpoints) calls
// RemoveStale, which applies the same rules to every name it matches in a
// directory.
//
// # Several files
//
// A Group commits several files together (the parts of a split, the files
// of a generated directory): its Commit first flushes, fsyncs and closes
// every file, and only then renames them in the order they were created, so
// a write error leaves every destination untouched. The renames themselves
// are not one atomic step: a crash during them can leave the first files new
// and the rest old, and a failed rename aborts the files not yet renamed.
//
// A File is not safe for concurrent use; separate Files, even for the same
// path, may be used concurrently, and the last Commit wins.
package atomicfile
