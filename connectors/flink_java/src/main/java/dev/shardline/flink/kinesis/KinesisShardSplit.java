package dev.shardline.flink.kinesis;

import org.apache.flink.api.connector.source.SourceSplit;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * One shard and where to resume it.  A shard is a partition: the split carries its explicit resume
 * state (sequence number, and the sub-record index when a checkpoint fell inside a KPL aggregate).
 *
 * <p>{@code finished} marks a split the reader has read to its end but whose end the enumerator may
 * not have checkpointed yet; the reader keeps such markers in its state so a restore re-sends them.
 */
public final class KinesisShardSplit implements SourceSplit {
    /** TRIM_HORIZON, LATEST, AT_TIMESTAMP (value: epoch ms), AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER. */
    final String shardId;
    final List<String> parentShardIds;
    final String position;
    final String positionValue;
    /** With AT_SEQUENCE_NUMBER: user records up to this sub-sequence were already emitted; -1 for none. */
    final long skipThroughSubSequence;
    final boolean finished;

    KinesisShardSplit(String shardId, List<String> parentShardIds, String position, String positionValue,
                      long skipThroughSubSequence, boolean finished) {
        this.shardId = shardId;
        this.parentShardIds = List.copyOf(parentShardIds);
        this.position = position;
        this.positionValue = positionValue;
        this.skipThroughSubSequence = skipThroughSubSequence;
        this.finished = finished;
    }

    static KinesisShardSplit of(String shardId, List<String> parents, String position, String value) {
        return new KinesisShardSplit(shardId, parents, position, value, -1, false);
    }

    KinesisShardSplit resumeAfter(String sequenceNumber) {
        return new KinesisShardSplit(shardId, parentShardIds, "AFTER_SEQUENCE_NUMBER", sequenceNumber, -1, false);
    }

    KinesisShardSplit resumeAt(String sequenceNumber, long subSequence) {
        return new KinesisShardSplit(shardId, parentShardIds, "AT_SEQUENCE_NUMBER", sequenceNumber, subSequence, false);
    }

    KinesisShardSplit asFinished() {
        return new KinesisShardSplit(shardId, parentShardIds, position, positionValue, skipThroughSubSequence, true);
    }

    @Override
    public String splitId() {
        return shardId;
    }

    @Override
    public String toString() {
        return shardId + "@" + position + (positionValue == null ? "" : ":" + positionValue) + (finished ? " (finished)" : "");
    }

    /** Versioned so a later layout can still read checkpoints written by this one. */
    static final class Serializer implements SimpleVersionedSerializer<KinesisShardSplit> {
        static final Serializer INSTANCE = new Serializer();

        @Override
        public int getVersion() {
            return 1;
        }

        @Override
        public byte[] serialize(KinesisShardSplit split) throws IOException {
            DataOutputSerializer out = new DataOutputSerializer(128);
            write(split, out);
            return out.getCopyOfBuffer();
        }

        @Override
        public KinesisShardSplit deserialize(int version, byte[] bytes) throws IOException {
            if (version != 1) {
                throw new IOException("unknown Kinesis split version " + version + "; was the checkpoint written by a newer shardline?");
            }
            return read(new DataInputDeserializer(bytes));
        }

        static void write(KinesisShardSplit split, DataOutputSerializer out) throws IOException {
            out.writeUTF(split.shardId);
            out.writeInt(split.parentShardIds.size());
            for (String parent : split.parentShardIds) {
                out.writeUTF(parent);
            }
            out.writeUTF(split.position);
            out.writeBoolean(split.positionValue != null);
            if (split.positionValue != null) {
                out.writeUTF(split.positionValue);
            }
            out.writeLong(split.skipThroughSubSequence);
            out.writeBoolean(split.finished);
        }

        static KinesisShardSplit read(DataInputDeserializer in) throws IOException {
            String shardId = in.readUTF();
            int parents = in.readInt();
            List<String> parentIds = new ArrayList<>(parents);
            for (int i = 0; i < parents; i++) {
                parentIds.add(in.readUTF());
            }
            String position = in.readUTF();
            String value = in.readBoolean() ? in.readUTF() : null;
            return new KinesisShardSplit(shardId, parentIds, position, value, in.readLong(), in.readBoolean());
        }
    }
}
