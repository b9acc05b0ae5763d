package dev.shardline.flink.kinesis;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.base.source.reader.RecordsBySplits;
import org.apache.flink.connector.base.source.reader.RecordsWithSplitIds;
import org.apache.flink.connector.base.source.reader.splitreader.SplitReader;
import org.apache.flink.connector.base.source.reader.splitreader.SplitsAddition;
import org.apache.flink.connector.base.source.reader.splitreader.SplitsChange;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.kinesis.KinesisClient;
import software.amazon.awssdk.services.kinesis.model.ExpiredIteratorException;
import software.amazon.awssdk.services.kinesis.model.GetRecordsResponse;
import software.amazon.awssdk.services.kinesis.model.GetShardIteratorRequest;
import software.amazon.awssdk.services.kinesis.model.KinesisException;
import software.amazon.awssdk.services.kinesis.model.Record;

import java.io.IOException;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Polls its shards with GetShardIterator/GetRecords, one shard per {@link #fetch()} call in turn.
 * Throttling and 5xx are retried with exponential backoff and full jitter, per shard; an expired
 * iterator is re-created from the last sequence number read.
 */
final class KinesisShardSplitReader implements SplitReader<KinesisShardSplitReader.UserRecord, KinesisShardSplit> {
    private static final Logger LOG = LoggerFactory.getLogger(KinesisShardSplitReader.class);

    /** One de-aggregated user record and where it sits, for the split state. */
    record UserRecord(byte[] data, String partitionKey, String sequenceNumber, long subSequence, boolean lastInRecord,
                      long arrivalMillis) {}

    /** Reading position of one assigned shard. */
    private static final class ShardCursor {
        final KinesisShardSplit split;
        String iterator;
        String lastSequenceNumber;
        long notBeforeMillis;
        int failures;

        ShardCursor(KinesisShardSplit split) {
            this.split = split;
        }
    }

    private final String stream;
    private final Configuration config;
    private final KinesisClient kinesis;
    private final Deque<ShardCursor> cursors = new ArrayDeque<>();
    private final Object wakeLock = new Object();
    private boolean wokenUp;

    KinesisShardSplitReader(String stream, Configuration config) {
        this(stream, config, KinesisOptions.syncClient(config));
    }

    KinesisShardSplitReader(String stream, Configuration config, KinesisClient kinesis) {
        this.stream = stream;
        this.config = config;
        this.kinesis = kinesis;
    }

    @Override
    public void handleSplitsChanges(SplitsChange<KinesisShardSplit> change) {
        if (change instanceof SplitsAddition) {
            change.splits().forEach(split -> cursors.add(new ShardCursor(split)));
        }
    }

    @Override
    public RecordsWithSplitIds<UserRecord> fetch() throws IOException {
        RecordsBySplits.Builder<UserRecord> out = new RecordsBySplits.Builder<>();
        ShardCursor cursor = nextReady();
        if (cursor == null) {
            return out.build();
        }
        try {
            if (cursor.iterator == null) {
                cursor.iterator = shardIterator(cursor);
            }
            GetRecordsResponse response = kinesis.getRecords(r -> r.shardIterator(cursor.iterator)
                    .limit(config.get(KinesisOptions.SHARD_GET_RECORDS_MAX)));
            cursor.failures = 0;
            for (Record record : response.records()) {
                addUserRecords(cursor, record, out);
            }
            cursor.iterator = response.nextShardIterator();
            boolean caughtUp = response.records().isEmpty() && Long.valueOf(0).equals(response.millisBehindLatest());
            if (cursor.iterator == null || (caughtUp && config.get(KinesisOptions.SOURCE_BOUNDED))) {
                out.addFinishedSplit(cursor.split.shardId);
                cursors.remove(cursor);
            } else if (response.records().isEmpty()) {
                cursor.notBeforeMillis = now() + config.get(KinesisOptions.READER_EMPTY_RECORDS_FETCH_INTERVAL).toMillis();
            }
        } catch (ExpiredIteratorException e) {
            cursor.iterator = null;  // re-created from the last sequence number on the next turn
        } catch (KinesisException e) {
            if (!retryable(e)) {
                throw new IOException("reading " + cursor.split.shardId + " of " + stream + " at "
                        + KinesisOptions.describeEndpoint(config) + " failed: " + e.awsErrorDetails().errorCode(), e);
            }
            backOff(cursor, e, Integer.MAX_VALUE);
        } catch (SdkClientException e) {
            backOff(cursor, e, config.get(KinesisOptions.RETRY_MAX_ATTEMPTS));
        }
        return out.build();
    }

    private void addUserRecords(ShardCursor cursor, Record record, RecordsBySplits.Builder<UserRecord> out) {
        String sequence = record.sequenceNumber();
        long arrival = record.approximateArrivalTimestamp() == null ? Long.MIN_VALUE
                : record.approximateArrivalTimestamp().toEpochMilli();
        List<AggregatedRecords.UserRecordData> userRecords =
                AggregatedRecords.deaggregate(record.data().asByteArrayUnsafe(), record.partitionKey());
        // After a restore inside an aggregate, skip the sub-records emitted before the checkpoint.
        long skipThrough = cursor.lastSequenceNumber == null && "AT_SEQUENCE_NUMBER".equals(cursor.split.position)
                && sequence.equals(cursor.split.positionValue) ? cursor.split.skipThroughSubSequence : -1;
        for (int i = 0; i < userRecords.size(); i++) {
            if (i > skipThrough) {
                AggregatedRecords.UserRecordData user = userRecords.get(i);
                out.add(cursor.split.shardId, new UserRecord(user.data(), user.partitionKey(), sequence, i,
                        i == userRecords.size() - 1, arrival));
            }
        }
        cursor.lastSequenceNumber = sequence;
    }

    private String shardIterator(ShardCursor cursor) {
        GetShardIteratorRequest.Builder request = GetShardIteratorRequest.builder().shardId(cursor.split.shardId);
        if (stream.startsWith("arn:")) {
            request.streamARN(stream);
        } else {
            request.streamName(stream);
        }
        if (cursor.lastSequenceNumber != null) {
            request.shardIteratorType("AFTER_SEQUENCE_NUMBER").startingSequenceNumber(cursor.lastSequenceNumber);
        } else if ("AT_TIMESTAMP".equals(cursor.split.position)) {
            request.shardIteratorType("AT_TIMESTAMP").timestamp(Instant.ofEpochMilli(Long.parseLong(cursor.split.positionValue)));
        } else {
            request.shardIteratorType(cursor.split.position);
            if (cursor.split.position.endsWith("_SEQUENCE_NUMBER")) {
                request.startingSequenceNumber(cursor.split.positionValue);
            }
        }
        return kinesis.getShardIterator(request.build()).shardIterator();
    }

    private static boolean retryable(KinesisException e) {
        return e.isThrottlingException() || e.statusCode() >= 500 || switch (e.awsErrorDetails().errorCode()) {
            case "ProvisionedThroughputExceededException", "LimitExceededException", "KMSThrottlingException",
                 "InternalFailure", "ServiceUnavailable" -> true;
            default -> false;
        };
    }

    private void backOff(ShardCursor cursor, Exception error, int maxAttempts) throws IOException {
        cursor.failures++;
        if (cursor.failures >= maxAttempts) {
            throw new IOException("cannot reach Kinesis at " + KinesisOptions.describeEndpoint(config) + " after "
                    + cursor.failures + " attempts (" + error.getClass().getSimpleName() + ")", error);
        }
        long min = config.get(KinesisOptions.RETRY_MIN_DELAY).toMillis();
        long ceiling = Math.min(config.get(KinesisOptions.RETRY_MAX_DELAY).toMillis(),
                min << Math.min(cursor.failures, 20));
        cursor.notBeforeMillis = now() + ThreadLocalRandom.current().nextLong(ceiling + 1);
        LOG.warn("event=get_records_retry shard={} attempt={} error={}", cursor.split.shardId, cursor.failures,
                error.getClass().getSimpleName());
    }

    /** The next shard whose pause is over, rotating so every shard gets its turn; waits if none is ready. */
    private ShardCursor nextReady() {
        long now = now();
        long earliest = Long.MAX_VALUE;
        for (int i = 0; i < cursors.size(); i++) {
            ShardCursor cursor = cursors.poll();
            cursors.add(cursor);
            if (cursor.notBeforeMillis <= now) {
                return cursor;
            }
            earliest = Math.min(earliest, cursor.notBeforeMillis);
        }
        synchronized (wakeLock) {
            if (!wokenUp && earliest != Long.MAX_VALUE) {
                try {
                    wakeLock.wait(Math.max(1, earliest - now));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            wokenUp = false;
        }
        return null;
    }

    private static long now() {
        return System.currentTimeMillis();
    }

    @Override
    public void wakeUp() {
        synchronized (wakeLock) {
            wokenUp = true;
            wakeLock.notifyAll();
        }
    }

    @Override
    public void close() {
        kinesis.close();
    }
}
