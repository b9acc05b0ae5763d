package dev.shardline.flink.kinesis.exactlyonce;

import dev.shardline.flink.kinesis.AwsCallFailure;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import software.amazon.awssdk.core.exception.ApiCallTimeoutException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.services.kinesis.KinesisClient;
import software.amazon.awssdk.services.kinesis.model.GetRecordsResponse;
import software.amazon.awssdk.services.kinesis.model.GetShardIteratorRequest;
import software.amazon.awssdk.services.kinesis.model.ListShardsRequest;
import software.amazon.awssdk.services.kinesis.model.ListShardsResponse;
import software.amazon.awssdk.services.kinesis.model.Record;
import software.amazon.awssdk.services.kinesis.model.Shard;
import software.amazon.awssdk.services.kinesis.model.ShardIteratorType;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * Reads back what may already be on the stream for a committable: every shard whose hash key range holds one of
 * its partition keys (open or closed: a reshard may have moved a key since), from a point in time to the tip.
 */
final class StreamReadBack {
    /** Throttling and the like: worth another try (shared with the put side). */
    static final Set<String> RETRYABLE_CODES = Set.of("ProvisionedThroughputExceededException",
            "LimitExceededException");
    /** A shard serves 5 GetRecords calls a second, shared with the job's consumers: pause after an empty read. */
    private static final long EMPTY_READ_PAUSE_MS = 200;
    private static final int MAX_RECORDS_PER_CALL = 10_000;
    /**
     * Kinesis answers GetShardIterator in milliseconds; kinesalite never answers AT_TIMESTAMP on a shard with no
     * record at or after the timestamp.  Past this wait the shard is read from TRIM_HORIZON instead, skipping
     * records older than the timestamp: slower, and the same answer.
     */
    static final Duration AT_TIMESTAMP_TIMEOUT = Duration.ofSeconds(2);
    private static final Logger LOG = LoggerFactory.getLogger(StreamReadBack.class);

    private final KinesisClient kinesis;
    private final String stream;
    private final Backoff.Pause pause;

    StreamReadBack(KinesisClient kinesis, String stream, Backoff.Pause pause) {
        this.kinesis = kinesis;
        this.stream = stream;
        this.pause = pause;
    }

    /**
     * Tells {@code tally} about every record from {@code from} to the tip of each shard that may hold one of
     * {@code entries}, stopping early once the tally is complete.  Returns how many records were read.
     */
    long read(RecordTally tally, List<KinesisCommittable.Entry> entries, Instant from)
            throws IOException, InterruptedException {
        long read = 0;
        for (Shard shard : shardsHolding(entries)) {
            read += readShard(shard.shardId(), tally, from);
            if (tally.complete()) {
                break;
            }
        }
        return read;
    }

    private long readShard(String shardId, RecordTally tally, Instant from) throws IOException, InterruptedException {
        String iterator = iteratorAt(shardId, from);
        long read = 0;
        while (iterator != null && !tally.complete()) {
            String current = iterator;
            GetRecordsResponse response = call("GetRecords", () -> kinesis.getRecords(
                    r -> r.shardIterator(current).limit(MAX_RECORDS_PER_CALL)));
            for (Record record : response.records()) {
                Instant arrived = record.approximateArrivalTimestamp();
                if (arrived == null || !arrived.isBefore(from)) {
                    tally.found(record.partitionKey(), record.data().asByteArrayUnsafe());
                }
            }
            read += response.records().size();
            boolean caughtUp = response.millisBehindLatest() == null || response.millisBehindLatest() == 0;
            if (response.records().isEmpty() && caughtUp) {
                break;  // the tip: nothing newer than this read exists
            }
            if (response.records().isEmpty()) {
                pause.sleep(EMPTY_READ_PAUSE_MS);
            }
            iterator = response.nextShardIterator();  // null: a closed shard's end
        }
        return read;
    }

    private String iteratorAt(String shardId, Instant from) throws IOException, InterruptedException {
        try {
            return kinesis.getShardIterator(iteratorRequest(shardId, ShardIteratorType.AT_TIMESTAMP, from)
                    .overrideConfiguration(o -> o.apiCallTimeout(AT_TIMESTAMP_TIMEOUT)).build()).shardIterator();
        } catch (ApiCallTimeoutException e) {
            LOG.warn("event=kinesis_read_back_from_trim_horizon stream={} shard={} reason=at_timestamp_unanswered",
                    stream, shardId);
            return call("GetShardIterator", () -> kinesis.getShardIterator(
                    iteratorRequest(shardId, ShardIteratorType.TRIM_HORIZON, null).build()).shardIterator());
        } catch (SdkException e) {
            return call("GetShardIterator", () -> kinesis.getShardIterator(
                    iteratorRequest(shardId, ShardIteratorType.AT_TIMESTAMP, from).build()).shardIterator());
        }
    }

    private GetShardIteratorRequest.Builder iteratorRequest(String shardId, ShardIteratorType type, Instant at) {
        GetShardIteratorRequest.Builder request = GetShardIteratorRequest.builder().shardId(shardId)
                .shardIteratorType(type).timestamp(at);
        return stream.startsWith("arn:") ? request.streamARN(stream) : request.streamName(stream);
    }

    private List<Shard> shardsHolding(List<KinesisCommittable.Entry> entries) throws IOException, InterruptedException {
        List<BigInteger> hashes = entries.stream().map(KinesisCommittable.Entry::partitionKey).distinct()
                .map(StreamReadBack::hashKey).collect(Collectors.toList());
        List<Shard> holding = new ArrayList<>();
        String token = null;
        do {
            String next = token;
            ListShardsResponse page = call("ListShards", () -> kinesis.listShards(page(next).build()));
            for (Shard shard : page.shards()) {
                BigInteger low = new BigInteger(shard.hashKeyRange().startingHashKey());
                BigInteger high = new BigInteger(shard.hashKeyRange().endingHashKey());
                if (hashes.stream().anyMatch(h -> h.compareTo(low) >= 0 && h.compareTo(high) <= 0)) {
                    holding.add(shard);
                }
            }
            token = page.nextToken();
        } while (token != null);
        return holding;
    }

    private ListShardsRequest.Builder page(String token) {
        ListShardsRequest.Builder request = ListShardsRequest.builder();
        if (token != null) {
            return request.nextToken(token);  // Kinesis refuses the stream's name beside a token
        }
        return stream.startsWith("arn:") ? request.streamARN(stream) : request.streamName(stream);
    }

    /** Where Kinesis puts a partition key: MD5 of its UTF-8 bytes as an unsigned 128-bit number. */
    static BigInteger hashKey(String partitionKey) {
        try {
            byte[] md5 = MessageDigest.getInstance("MD5").digest(partitionKey.getBytes(StandardCharsets.UTF_8));
            return new BigInteger(1, md5);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM has MD5", e);
        }
    }

    /**
     * One read-only call, retried with backoff while Kinesis throttles, fails on its side or cannot be reached
     * (reads are safe to repeat; the committer's client leaves retries to us).
     */
    private <T> T call(String what, Supplier<T> request) throws IOException, InterruptedException {
        Backoff backoff = new Backoff(pause);
        while (true) {
            try {
                return request.get();
            } catch (SdkException e) {
                if (!AwsCallFailure.retryable(e, RETRYABLE_CODES) && !(e instanceof SdkClientException)) {
                    throw new IOException(what + " on " + stream + " failed (" + AwsCallFailure.code(e) + ") while "
                            + "reading back records a restored checkpoint may have written", e);
                }
                backoff.failed(what + " on " + stream);
            }
        }
    }
}
