package dev.shardline.flink.kinesis;

import org.apache.flink.api.connector.source.SourceEvent;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import software.amazon.awssdk.services.kinesis.KinesisClient;
import software.amazon.awssdk.services.kinesis.model.ListShardsRequest;
import software.amazon.awssdk.services.kinesis.model.ListShardsResponse;
import software.amazon.awssdk.services.kinesis.model.ResourceNotFoundException;
import software.amazon.awssdk.services.kinesis.model.Shard;

import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Discovers shards with ListShards and hands each to one reader, a child only after all its parents
 * were read to their end (so per-key order survives resharding).  Shards present at the job's first
 * start begin at the configured initial position; shards that appear later begin at TRIM_HORIZON.
 */
final class KinesisShardEnumerator implements SplitEnumerator<KinesisShardSplit, KinesisShardEnumerator.State> {
    private static final Logger LOG = LoggerFactory.getLogger(KinesisShardEnumerator.class);

    private final SplitEnumeratorContext<KinesisShardSplit> context;
    private final String stream;
    private final Configuration config;
    private final boolean bounded;
    private final Set<String> assigned;
    private final Set<String> finished;
    private final Map<String, KinesisShardSplit> pending = new LinkedHashMap<>();
    private boolean discovered;
    private int failedDiscoveries;
    private KinesisClient kinesis;

    KinesisShardEnumerator(SplitEnumeratorContext<KinesisShardSplit> context, String stream, Configuration config,
                           State restored) {
        this.context = context;
        this.stream = stream;
        this.config = config;
        this.bounded = config.get(KinesisOptions.SOURCE_BOUNDED);
        this.assigned = new HashSet<>(restored == null ? Set.of() : restored.assigned);
        this.finished = new HashSet<>(restored == null ? Set.of() : restored.finished);
        if (restored != null) {
            restored.pending.forEach(s -> pending.put(s.shardId, s));
            discovered = restored.discovered;
        }
    }

    @Override
    public void start() {
        kinesis = KinesisOptions.syncClient(config);
        long interval = config.get(KinesisOptions.SHARD_DISCOVERY_INTERVAL).toMillis();
        context.callAsync(this::listShards, this::onShardsListed, 0, interval);
    }

    private List<Shard> listShards() {
        List<Shard> shards = new ArrayList<>();
        String next = null;
        do {
            ListShardsRequest.Builder request = ListShardsRequest.builder();
            if (next != null) {
                request.nextToken(next);  // a paged call must not name the stream again
            } else if (stream.startsWith("arn:")) {
                request.streamARN(stream);
            } else {
                request.streamName(stream);
            }
            ListShardsResponse response = kinesis.listShards(request.build());
            shards.addAll(response.shards());
            next = response.nextToken();
        } while (next != null);
        return shards;
    }

    void onShardsListed(List<Shard> shards, Throwable error) {
        if (error != null) {
            if (error instanceof ResourceNotFoundException) {
                throw new IllegalStateException("Kinesis stream " + stream + " does not exist at "
                        + KinesisOptions.describeEndpoint(config) + "; create it or fix the stream name/region", error);
            }
            if (++failedDiscoveries >= config.get(KinesisOptions.RETRY_MAX_ATTEMPTS)) {
                throw new IllegalStateException("ListShards on " + stream + " failed " + failedDiscoveries
                        + " times in a row at " + KinesisOptions.describeEndpoint(config), error);
            }
            LOG.warn("event=list_shards_failed stream={} error={} action=retry_next_interval", stream, error.toString());
            return;
        }
        failedDiscoveries = 0;
        if (bounded && discovered) {
            return;  // a bounded read covers the shards that existed when it started
        }
        for (Shard shard : shards) {
            String id = shard.shardId();
            if (assigned.contains(id) || finished.contains(id) || pending.containsKey(id)) {
                continue;
            }
            List<String> parents = Stream.of(shard.parentShardId(), shard.adjacentParentShardId())
                    .filter(p -> p != null).toList();
            pending.put(id, discovered ? KinesisShardSplit.of(id, parents, "TRIM_HORIZON", null) : initialSplit(id, parents));
        }
        discovered = true;
        assignReady();
    }

    private KinesisShardSplit initialSplit(String shardId, List<String> parents) {
        KinesisOptions.InitialPosition position = config.get(KinesisOptions.STREAM_INITIAL_POSITION);
        String value = null;
        if (position == KinesisOptions.InitialPosition.AT_TIMESTAMP) {
            String timestamp = config.getOptional(KinesisOptions.STREAM_INITIAL_TIMESTAMP).orElseThrow(() ->
                    new IllegalArgumentException("source.init.position is AT_TIMESTAMP but source.init.timestamp is not set"));
            value = Long.toString(parseTimestamp(timestamp).toEpochMilli());
        }
        return KinesisShardSplit.of(shardId, parents, position.name(), value);
    }

    static Instant parseTimestamp(String text) {
        try {
            return Instant.parse(text);
        } catch (RuntimeException notIso) {
            try {
                return Instant.ofEpochMilli(Math.round(Double.parseDouble(text) * 1000));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("source.init.timestamp must be an ISO-8601 instant or epoch seconds");
            }
        }
    }

    /** Assign every pending shard whose parents are finished (or gone: expired past retention). */
    private void assignReady() {
        int parallelism = context.currentParallelism();
        var readers = context.registeredReaders().keySet();
        var it = pending.values().iterator();
        while (it.hasNext()) {
            KinesisShardSplit split = it.next();
            boolean parentsDone = split.parentShardIds.stream().allMatch(
                    p -> finished.contains(p) || !(assigned.contains(p) || pending.containsKey(p)));
            // A stable owner per shard keeps assignments the same across restarts.
            int owner = Math.floorMod(split.shardId.hashCode(), parallelism);
            if (parentsDone && readers.contains(owner)) {
                context.assignSplit(split, owner);
                assigned.add(split.shardId);
                it.remove();
                LOG.info("event=shard_assigned shard={} reader={} position={}", split.shardId, owner, split.position);
            }
        }
        signalEndIfDone();
    }

    private void signalEndIfDone() {
        if (bounded && discovered && pending.isEmpty() && finished.containsAll(assigned)) {
            for (int reader : context.registeredReaders().keySet()) {
                context.signalNoMoreSplits(reader);
            }
        }
    }

    @Override
    public void handleSourceEvent(int subtaskId, SourceEvent event) {
        if (event instanceof SplitsFinishedEvent done) {
            finished.addAll(done.shardIds);
            LOG.info("event=shards_finished shards={} reader={}", done.shardIds, subtaskId);
            assignReady();
        }
    }

    @Override
    public void addSplitsBack(List<KinesisShardSplit> splits, int subtaskId) {
        // The reader failed before checkpointing these: hand them out again when it is back.
        for (KinesisShardSplit split : splits) {
            assigned.remove(split.shardId);
            pending.put(split.shardId, split);
        }
    }

    @Override
    public void addReader(int subtaskId) {
        assignReady();
    }

    @Override
    public void handleSplitRequest(int subtaskId, String requesterHostname) {
        // Splits are pushed on discovery, not pulled.
    }

    @Override
    public State snapshotState(long checkpointId) {
        return new State(assigned, finished, pending.values(), discovered);
    }

    @Override
    public void close() {
        if (kinesis != null) {
            kinesis.close();
        }
    }

    /** What the enumerator checkpoints: which shards were handed out, finished, or still wait for parents. */
    static final class State {
        final Set<String> assigned;
        final Set<String> finished;
        final List<KinesisShardSplit> pending;
        final boolean discovered;

        State(Collection<String> assigned, Collection<String> finished, Collection<KinesisShardSplit> pending,
              boolean discovered) {
            this.assigned = Set.copyOf(assigned);
            this.finished = Set.copyOf(finished);
            this.pending = List.copyOf(pending);
            this.discovered = discovered;
        }
    }

    static final class StateSerializer implements SimpleVersionedSerializer<State> {
        @Override
        public int getVersion() {
            return 1;
        }

        @Override
        public byte[] serialize(State state) throws IOException {
            DataOutputSerializer out = new DataOutputSerializer(256);
            writeStrings(state.assigned, out);
            writeStrings(state.finished, out);
            out.writeInt(state.pending.size());
            for (KinesisShardSplit split : state.pending) {
                KinesisShardSplit.Serializer.write(split, out);
            }
            out.writeBoolean(state.discovered);
            return out.getCopyOfBuffer();
        }

        @Override
        public State deserialize(int version, byte[] bytes) throws IOException {
            if (version != 1) {
                throw new IOException("unknown Kinesis enumerator state version " + version);
            }
            DataInputDeserializer in = new DataInputDeserializer(bytes);
            Set<String> assigned = readStrings(in);
            Set<String> finished = readStrings(in);
            int count = in.readInt();
            List<KinesisShardSplit> pending = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                pending.add(KinesisShardSplit.Serializer.read(in));
            }
            return new State(assigned, finished, pending, in.readBoolean());
        }

        private static void writeStrings(Set<String> values, DataOutputSerializer out) throws IOException {
            out.writeInt(values.size());
            for (String value : values) {
                out.writeUTF(value);
            }
        }

        private static Set<String> readStrings(DataInputDeserializer in) throws IOException {
            int count = in.readInt();
            Set<String> values = new HashSet<>(count);
            for (int i = 0; i < count; i++) {
                values.add(in.readUTF());
            }
            return values;
        }
    }
}
