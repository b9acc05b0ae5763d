package dev.shardline.flink.kinesis.exactlyonce;

import org.apache.flink.core.io.SimpleVersionedSerializer;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Committables in checkpoints.  Version 1: subtask, creation time, record count, then each record's
 * partition key (modified UTF-8; Kinesis keys are at most 256 characters) and length-prefixed data.
 * A change of layout gets a new version, and this class keeps reading the old ones: checkpoints
 * outlive jars.
 */
public final class KinesisCommittableSerializer implements SimpleVersionedSerializer<KinesisCommittable> {
    static final int VERSION = 1;

    @Override
    public int getVersion() {
        return VERSION;
    }

    @Override
    public byte[] serialize(KinesisCommittable committable) throws IOException {
        long size = 16;
        for (KinesisCommittable.Entry entry : committable.entries()) {
            size += entry.size() + 6;
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream((int) Math.min(size, Integer.MAX_VALUE - 8));
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeInt(committable.subtask());
            out.writeLong(committable.createdAtMillis());
            out.writeInt(committable.entries().size());
            for (KinesisCommittable.Entry entry : committable.entries()) {
                out.writeUTF(entry.partitionKey());
                out.writeInt(entry.data().length);
                out.write(entry.data());
            }
        }
        return bytes.toByteArray();
    }

    @Override
    public KinesisCommittable deserialize(int version, byte[] serialized) throws IOException {
        if (version != VERSION) {
            throw new IOException("a Kinesis exactly-once committable of version " + version + " cannot be read by "
                    + "this connector (it reads version " + VERSION + "); restore with the jar that took the checkpoint");
        }
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(serialized))) {
            int subtask = in.readInt();
            long createdAt = in.readLong();
            int count = in.readInt();
            List<KinesisCommittable.Entry> entries = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                String key = in.readUTF();
                byte[] data = new byte[in.readInt()];
                in.readFully(data);
                entries.add(new KinesisCommittable.Entry(key, data));
            }
            return new KinesisCommittable(subtask, createdAt, entries);
        }
    }
}
