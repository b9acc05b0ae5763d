package dev.shardline.flink.kinesis.exactlyonce;

import dev.shardline.flink.kinesis.AwsCallFailure;

import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.services.kinesis.KinesisClient;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequest;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequestEntry;
import software.amazon.awssdk.services.kinesis.model.PutRecordsResponse;
import software.amazon.awssdk.services.kinesis.model.PutRecordsResultEntry;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * Writes records with PutRecords in calls of at most 500 entries and 5 MiB, sending again only the entries a
 * response marks failed (those were not written).  A call that fails as a whole is either plainly refused
 * (throttled: nothing was written, so it is sent again) or ambiguous (a server error or a lost answer: some of it
 * may be on the stream), and then the caller must read back before it writes again.
 */
final class PutRecordsBatches {
    static final int MAX_ENTRIES = 500;
    static final long MAX_BYTES = 5L * 1024 * 1024;

    /** A call failed in a way that may have written part of it: sending it again could duplicate records. */
    static final class AmbiguousWriteException extends Exception {
        private static final long serialVersionUID = 1L;

        AmbiguousWriteException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private final KinesisClient kinesis;
    private final String stream;
    private final boolean failOnError;
    private final Backoff.Pause pause;

    PutRecordsBatches(KinesisClient kinesis, String stream, boolean failOnError, Backoff.Pause pause) {
        this.kinesis = kinesis;
        this.stream = stream;
        this.failOnError = failOnError;
        this.pause = pause;
    }

    /** Writes every entry once, or throws; after {@link AmbiguousWriteException} some may be on the stream. */
    void putAll(List<KinesisCommittable.Entry> entries)
            throws IOException, InterruptedException, AmbiguousWriteException {
        Deque<KinesisCommittable.Entry> pending = new ArrayDeque<>(entries);
        Backoff backoff = new Backoff(pause);
        while (!pending.isEmpty()) {
            List<KinesisCommittable.Entry> batch = nextBatch(pending);
            PutRecordsResponse response;
            try {
                response = kinesis.putRecords(request(batch));
            } catch (SdkException e) {
                if (refusedWhole(e)) {
                    requeue(pending, batch);
                    backoff.failed("PutRecords to " + stream);
                    continue;
                }
                if (AwsCallFailure.retryable(e, StreamReadBack.RETRYABLE_CODES) || e instanceof SdkClientException) {
                    throw new AmbiguousWriteException("PutRecords to " + stream + " failed ("
                            + AwsCallFailure.code(e) + ") and may have written part of its records", e);
                }
                throw new IOException("PutRecords to " + stream + " failed (" + AwsCallFailure.code(e) + "); check "
                        + "that the stream exists, the region/endpoint and the credentials", e);
            }
            List<KinesisCommittable.Entry> failed = failedEntries(response, batch);
            if (failed.size() < batch.size()) {
                backoff.progressed();
            }
            if (!failed.isEmpty()) {
                if (failOnError) {
                    throw new IOException(failed.size() + " of " + batch.size() + " records were refused by " + stream
                            + " (first: " + firstErrorCode(response) + ") and fail-on-error is set");
                }
                requeue(pending, failed);
                backoff.failed("PutRecords to " + stream + " (" + firstErrorCode(response) + ")");
            }
        }
    }

    /** Throttled as a whole (a 4xx that names throttling): Kinesis wrote none of the call. */
    private static boolean refusedWhole(SdkException e) {
        return e instanceof AwsServiceException s && s.statusCode() < 500 && (s.isThrottlingException()
                || (s.awsErrorDetails() != null && StreamReadBack.RETRYABLE_CODES.contains(s.awsErrorDetails().errorCode())));
    }

    private static List<KinesisCommittable.Entry> nextBatch(Deque<KinesisCommittable.Entry> pending) {
        List<KinesisCommittable.Entry> batch = new ArrayList<>();
        long bytes = 0;
        while (!pending.isEmpty() && batch.size() < MAX_ENTRIES && bytes + pending.peekFirst().size() <= MAX_BYTES) {
            KinesisCommittable.Entry entry = pending.pollFirst();
            bytes += entry.size();
            batch.add(entry);
        }
        return batch;  // never empty: the writer refuses records over 1 MiB
    }

    /** Failed entries go back to the front, in their order, so records keep their order as far as retries allow. */
    private static void requeue(Deque<KinesisCommittable.Entry> pending, List<KinesisCommittable.Entry> entries) {
        for (int i = entries.size() - 1; i >= 0; i--) {
            pending.addFirst(entries.get(i));
        }
    }

    private static List<KinesisCommittable.Entry> failedEntries(PutRecordsResponse response,
                                                                List<KinesisCommittable.Entry> batch) {
        if (response.failedRecordCount() == null || response.failedRecordCount() == 0) {
            return List.of();
        }
        List<KinesisCommittable.Entry> failed = new ArrayList<>(response.failedRecordCount());
        List<PutRecordsResultEntry> results = response.records();
        for (int i = 0; i < batch.size(); i++) {
            if (results.get(i).errorCode() != null) {
                failed.add(batch.get(i));
            }
        }
        return failed;
    }

    private static String firstErrorCode(PutRecordsResponse response) {
        return response.records().stream().map(PutRecordsResultEntry::errorCode).filter(c -> c != null)
                .findFirst().orElse("?");
    }

    private PutRecordsRequest request(List<KinesisCommittable.Entry> batch) {
        List<PutRecordsRequestEntry> entries = new ArrayList<>(batch.size());
        for (KinesisCommittable.Entry entry : batch) {
            entries.add(PutRecordsRequestEntry.builder().partitionKey(entry.partitionKey())
                    .data(SdkBytes.fromByteArrayUnsafe(entry.data())).build());
        }
        PutRecordsRequest.Builder request = PutRecordsRequest.builder().records(entries);
        return (stream.startsWith("arn:") ? request.streamARN(stream) : request.streamName(stream)).build();
    }
}
