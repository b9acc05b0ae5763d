package dev.shardline.flink.kinesis;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.connector.source.SourceOutput;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.util.Collector;
import org.apache.flink.util.UserCodeClassLoader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.base.source.reader.RecordEmitter;
import org.apache.flink.connector.base.source.reader.SingleThreadMultiplexSourceReaderBase;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Emits what the deserializer makes of each user record and tracks, per shard, the last one emitted.
 *
 * <p>When a shard is read to its end the reader tells the enumerator (which then assigns the
 * children).  Until that fact is surely inside an enumerator checkpoint, the reader also keeps a
 * "finished" marker in its own state and re-sends it after a restore: the rule is to drop a marker
 * only when a checkpoint completes that was taken after a checkpoint which already held it.
 */
final class KinesisStreamsSourceReader<T> extends SingleThreadMultiplexSourceReaderBase<
        KinesisShardSplitReader.UserRecord, T, KinesisShardSplit, KinesisStreamsSourceReader.ShardState> {

    /** Mutable per-shard progress, turned back into a split at checkpoints. */
    static final class ShardState {
        final KinesisShardSplit split;
        String sequenceNumber;
        long subSequence;
        boolean lastInRecord;

        ShardState(KinesisShardSplit split) {
            this.split = split;
        }

        KinesisShardSplit toSplit() {
            if (sequenceNumber == null) {
                return split;
            }
            return lastInRecord ? split.resumeAfter(sequenceNumber) : split.resumeAt(sequenceNumber, subSequence);
        }
    }

    /** Hands the deserializer's outputs to the source output with the record's arrival time (one per reader). */
    private static final class Emitter<T> implements RecordEmitter<KinesisShardSplitReader.UserRecord, T, ShardState>,
            Collector<T> {
        private final KinesisRecordDeserializer<T> deserializer;
        private SourceOutput<T> output;
        private long timestamp;

        Emitter(KinesisRecordDeserializer<T> deserializer) {
            this.deserializer = deserializer;
        }

        @Override
        public void emitRecord(KinesisShardSplitReader.UserRecord record, SourceOutput<T> output, ShardState state)
                throws Exception {
            this.output = output;
            this.timestamp = record.arrivalMillis();
            deserializer.deserialize(new KinesisRecord(record.data(), record.partitionKey(), state.split.shardId,
                    record.sequenceNumber(), record.subSequence(), record.arrivalMillis()), this);
            state.sequenceNumber = record.sequenceNumber();
            state.subSequence = record.subSequence();
            state.lastInRecord = record.lastInRecord();
        }

        @Override
        public void collect(T value) {
            output.collect(value, timestamp);
        }

        @Override
        public void close() {}
    }

    private final KinesisRecordDeserializer<T> deserializer;

    private final Map<String, KinesisShardSplit> finishedMarkers = new HashMap<>();
    private final Map<String, Long> markerFirstCheckpoint = new HashMap<>();

    KinesisStreamsSourceReader(String stream, Configuration config, SourceReaderContext context,
                               KinesisRecordDeserializer<T> deserializer) {
        super(() -> new KinesisShardSplitReader(stream, config), new Emitter<>(deserializer), config, context);
        this.deserializer = deserializer;
    }

    @Override
    public void start() {
        try {
            deserializer.open(new DeserializationSchema.InitializationContext() {
                @Override
                public MetricGroup getMetricGroup() {
                    return context.metricGroup();
                }

                @Override
                public UserCodeClassLoader getUserCodeClassLoader() {
                    return context.getUserCodeClassLoader();
                }
            });
        } catch (Exception e) {
            throw new IllegalStateException("the source's record deserializer could not open: " + e.getMessage(), e);
        }
        super.start();
    }

    @Override
    protected void onSplitFinished(Map<String, ShardState> finished) {
        finished.forEach((id, state) -> finishedMarkers.put(id, state.toSplit().asFinished()));
        context.sendSourceEventToCoordinator(new SplitsFinishedEvent(finished.keySet()));
    }

    @Override
    public void addSplits(List<KinesisShardSplit> splits) {
        List<KinesisShardSplit> toRead = new ArrayList<>();
        for (KinesisShardSplit split : splits) {
            if (split.finished) {
                finishedMarkers.put(split.shardId, split);
            } else {
                toRead.add(split);
            }
        }
        if (toRead.size() < splits.size()) {
            context.sendSourceEventToCoordinator(new SplitsFinishedEvent(finishedMarkers.keySet()));
        }
        super.addSplits(toRead);
    }

    @Override
    public List<KinesisShardSplit> snapshotState(long checkpointId) {
        List<KinesisShardSplit> state = new ArrayList<>(super.snapshotState(checkpointId));
        for (var marker : finishedMarkers.values()) {
            markerFirstCheckpoint.putIfAbsent(marker.shardId, checkpointId);
            state.add(marker);
        }
        return state;
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) throws Exception {
        markerFirstCheckpoint.entrySet().removeIf(entry -> {
            boolean safe = entry.getValue() < checkpointId;
            if (safe) {
                finishedMarkers.remove(entry.getKey());
            }
            return safe;
        });
        super.notifyCheckpointComplete(checkpointId);
    }

    @Override
    protected ShardState initializedState(KinesisShardSplit split) {
        return new ShardState(split);
    }

    @Override
    protected KinesisShardSplit toSplitType(String splitId, ShardState state) {
        return state.toSplit();
    }
}
