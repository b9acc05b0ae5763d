package dev.shardline.flink.kinesis.exactlyonce;

import dev.shardline.flink.kinesis.KinesisOptions;

import org.apache.flink.api.connector.sink2.Committer;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.metrics.Counter;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.services.kinesis.KinesisClient;

import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * Writes a completed checkpoint's committables to Kinesis, each record once.
 *
 * <p>A committable that an earlier run of the job may already have written (in part) is first checked against
 * the stream: Flink re-commits the committables of the checkpoint it restores, and a crash may have come after
 * their commit, or in the middle of it.  Such a committable is one this committer was restored with: the task
 * was restored from a checkpoint and the committable was made before this committer started, give or take
 * {@link #CLOCK_MARGIN} (the writer that made it may have run on another host, with another clock).  The check
 * reads every shard that may hold its records from its creation time less that margin to the tip, and writes
 * only the records not found there.  A call that fails in a way that may have written part of it triggers the
 * same check before anything is sent again.
 *
 * <p>Records are matched by SHA-256 of (partition key, data): records that must be delivered more than once need
 * to differ in their bytes (our events carry their id) or be written within one committable (a multiset).
 */
public final class KinesisCommitter implements Committer<KinesisCommittable> {
    /** Clock skew allowed between the writer's host, the committer's and Kinesis's. */
    public static final Duration CLOCK_MARGIN = Duration.ofSeconds(30);
    /** Ambiguous failures in a row on one committable before the job is failed (it restarts and reads back). */
    private static final int MAX_AMBIGUOUS_FAILURES = 5;
    private static final Logger LOG = LoggerFactory.getLogger(KinesisCommitter.class);

    private final String stream;
    private final KinesisClient kinesis;
    private final boolean restored;
    private final long startedAtMillis;
    private final Counter skipped;
    private final LongSupplier clock;
    private final StreamReadBack readBack;
    private final PutRecordsBatches puts;

    /**
     * A committer with its own Kinesis client.  {@code restored}: the task was restored from a checkpoint
     * ({@code CommitterInitContext.getRestoredCheckpointId()}).  {@code skipped} counts the records of restored
     * committables found on the stream already, and so not written again.
     */
    public KinesisCommitter(String stream, ReadableConfig config, boolean failOnError, boolean restored,
                            Counter skipped) {
        this(stream, client(config), failOnError, restored, skipped, System::currentTimeMillis, Backoff.THREAD_SLEEP);
    }

    KinesisCommitter(String stream, KinesisClient kinesis, boolean failOnError, boolean restored, Counter skipped,
                     LongSupplier clock, Backoff.Pause pause) {
        this.stream = stream;
        this.kinesis = kinesis;
        this.restored = restored;
        this.skipped = skipped;
        this.clock = clock;
        this.startedAtMillis = clock.getAsLong();
        this.readBack = new StreamReadBack(kinesis, stream, pause);
        this.puts = new PutRecordsBatches(kinesis, stream, failOnError, pause);
    }

    /**
     * The SDK must not retry PutRecords by itself: a retry after a lost answer can write a call twice.  Our own
     * loops retry what is known to be unwritten, and read back after anything else.
     */
    private static KinesisClient client(ReadableConfig config) {
        return KinesisOptions.configure(KinesisClient.builder().httpClient(UrlConnectionHttpClient.create())
                .overrideConfiguration(o -> o.retryStrategy(AwsRetryStrategy.doNotRetry())), config).build();
    }

    @Override
    public void commit(Collection<CommitRequest<KinesisCommittable>> requests) throws IOException, InterruptedException {
        for (CommitRequest<KinesisCommittable> request : requests) {
            KinesisCommittable committable = request.getCommittable();
            int found = commit(committable);
            if (found > 0 && found == committable.entries().size()) {
                request.signalAlreadyCommitted();
            }
            // No signal: Flink counts it committed.  We never signal a failure "with known reason": Flink would
            // drop the committable and go on.  A failure is thrown, the job restarts, and the restored committer
            // reads back what was written.
        }
    }

    /**
     * Writes one committable's records that are not on the stream yet; returns how many of them an earlier run
     * had written (0 unless the committable may have been written before this committer started).
     */
    public int commit(KinesisCommittable committable) throws IOException, InterruptedException {
        List<KinesisCommittable.Entry> toWrite = committable.entries();
        int found = 0;
        if (mayBeWritten(committable)) {
            toWrite = missing(committable, "restored");
            found = committable.entries().size() - toWrite.size();
            skipped.inc(found);
        }
        for (int ambiguous = 0; ; ambiguous++) {
            try {
                puts.putAll(toWrite);
                return found;
            } catch (PutRecordsBatches.AmbiguousWriteException e) {
                if (ambiguous + 1 >= MAX_AMBIGUOUS_FAILURES) {
                    throw new IOException(e.getMessage() + ", " + MAX_AMBIGUOUS_FAILURES + " times in a row", e);
                }
                LOG.warn("event=kinesis_put_ambiguous stream={} subtask={} reason={}", stream, committable.subtask(),
                        e.getMessage());
                toWrite = missing(committable, "ambiguous_put");  // what this committer wrote counts as found too
            }
        }
    }

    /** Restored with the task and made before this committer started (clocks may differ by the margin). */
    boolean mayBeWritten(KinesisCommittable committable) {
        return restored && committable.createdAtMillis() < startedAtMillis + CLOCK_MARGIN.toMillis();
    }

    /**
     * The committable's records not on the stream.  Its records were written after it was made (after its
     * checkpoint completed), so nothing older than its creation time less the margin can be one of them.
     */
    private List<KinesisCommittable.Entry> missing(KinesisCommittable committable, String why)
            throws IOException, InterruptedException {
        long fromMillis = Math.min(clock.getAsLong(), committable.createdAtMillis() - CLOCK_MARGIN.toMillis());
        RecordTally tally = new RecordTally(committable.entries());
        long read = readBack.read(tally, committable.entries(), Instant.ofEpochMilli(fromMillis));
        List<KinesisCommittable.Entry> missing = tally.missing();
        int found = committable.entries().size() - missing.size();
        LOG.info("event=kinesis_committable_read_back why={} stream={} subtask={} created_at={} records={} "
                        + "already_written={} to_write={} records_read={}", why, stream, committable.subtask(),
                Instant.ofEpochMilli(committable.createdAtMillis()), committable.entries().size(), found,
                missing.size(), read);
        return missing;
    }

    @Override
    public void close() {
        kinesis.close();
    }
}
