import DWCPCore
import DWCPSystem

extension ImageJournal {
    /// The writing half of the journal format: header, records, trailer and digest, for
    /// whatever decides which records a journal holds. `Writer` journals the pages of a round
    /// that differ from the image; `RoundUndo` journals the bytes those pages replace.
    final class Output {
        let path: String
        private let fd: FileDescriptor
        private let digest = StreamDigest()
        private let buffer = RawBuffer(capacity: 4 << 20)
        private(set) var records: UInt64 = 0
        private(set) var dataBytes: UInt64 = 0
        private var closed = false

        /// Creates the journal at `path` (replacing what is there) with its header: the round it
        /// completes, the length of the image it applies to and that image's device number (0
        /// for a regular file).
        init(path: String, round: UInt64, baseLength: UInt64, device: UInt64) throws {
            fd = try FileDescriptor.create(path, overwrite: true, mode: 0o600)
            self.path = path
            let h = buffer.unsafeBase
            ImageJournal.magic.withUnsafeBytes { h.copyMemory(from: $0.baseAddress!, byteCount: 8) }
            LittleEndian.store(round, h, 8)
            LittleEndian.store(baseLength, h, 16)
            LittleEndian.store(device, h, 24)
            buffer.count = ImageJournal.headerLength
            digest.update(h, ImageJournal.headerLength)
        }

        deinit { close() }

        /// Appends a record: `count` (1 … `maxRecord`) bytes that go at `imageOffset`.
        func record(_ p: UnsafeRawPointer, _ count: Int, at imageOffset: UInt64) throws {
            var h = [UInt8](repeating: 0, count: ImageJournal.recordHeaderLength)
            h.withUnsafeMutableBytes {
                LittleEndian.store(imageOffset, $0.baseAddress!, 0)
                LittleEndian.store(UInt32(count), $0.baseAddress!, 8)
            }
            try h.withUnsafeBytes { try append($0.baseAddress!, $0.count) }
            try append(p, count)
            records += 1
            dataBytes += UInt64(count)
        }

        /// Appends through the buffer; large pieces go straight to the file, after what the
        /// buffer holds. (Until December 2026 a piece of a quarter of the buffer, a whole 1 MiB
        /// record, went out ahead of the buffered bytes before it when they all fitted: a
        /// journal that its own check refused, which 1 MiB frames of changed pages reached.)
        private func append(_ p: UnsafeRawPointer, _ count: Int) throws {
            digest.update(p, count)
            if count >= buffer.capacity / 4 {
                try flush()
                try fd.writeAll(p, count: count)
            } else {
                if buffer.count + count > buffer.capacity { try flush() }
                (buffer.unsafeBase + buffer.count).copyMemory(from: p, byteCount: count)
                buffer.count += count
            }
        }

        private func flush() throws {
            if buffer.count > 0 {
                try fd.writeAll(buffer.unsafeBase, count: buffer.count)
                buffer.count = 0
            }
        }

        /// The commit point: appends the trailer (records, bytes, the image's length once the
        /// journal is applied, the digest) and, if `durable`, fsyncs the journal and (unless
        /// `directory` is false: a file under a temporary name, renamed durably next) its
        /// directory. Closes the file.
        func commit(newLength: UInt64, durable: Bool, directory: Bool = true) throws {
            var t = [UInt8](repeating: 0, count: ImageJournal.trailerLength)
            t.withUnsafeMutableBytes {
                let b = $0.baseAddress!
                ImageJournal.trailerMagic.withUnsafeBytes { b.copyMemory(from: $0.baseAddress!, byteCount: 8) }
                LittleEndian.store(records, b, 8)
                LittleEndian.store(dataBytes, b, 16)
                LittleEndian.store(newLength, b, 24)
            }
            try t.withUnsafeBytes { try append($0.baseAddress!, 32) }
            let d = digest.finalize()
            t.withUnsafeMutableBytes {
                LittleEndian.store(d.high, $0.baseAddress!, 32)
                LittleEndian.store(d.low, $0.baseAddress!, 40)
            }
            // Not through `append`: the digest covers every byte before itself.
            try flush()
            try t.withUnsafeBytes { try fd.writeAll($0.baseAddress! + 32, count: 16) }
            if durable {
                try fd.sync()
                if directory { syncDirectory(of: path) }
            }
            close()
        }

        /// Closes the file (the journal stays where it is).
        func close() {
            guard !closed else { return }
            closed = true
            fd.close()
        }
    }
}
