package dev.shardline.flink.kinesis.exactlyonce;

import java.io.IOException;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Exponential backoff with full jitter for the committer's calls, which block the task thread: throttling
 * clears in seconds, and a run of failures with no progress ends in an error (the job restarts, and its
 * committer reads back what was written).
 */
final class Backoff {
    /** How the committer waits; tests pass one that records instead of sleeping. */
    @FunctionalInterface
    interface Pause {
        void sleep(long millis) throws InterruptedException;
    }

    static final Pause THREAD_SLEEP = Thread::sleep;
    static final long MIN_DELAY_MS = 100;
    static final long MAX_DELAY_MS = 5_000;
    /** About two minutes of waiting at the ceiling before the job is failed. */
    static final int MAX_ATTEMPTS = 30;

    private final Pause pause;
    private int attempts;

    Backoff(Pause pause) {
        this.pause = pause;
    }

    /** A call made progress: the next failure starts from the shortest delay again. */
    void progressed() {
        attempts = 0;
    }

    /** A call failed in a way worth another try: wait, or give up after too many failures in a row. */
    void failed(String what) throws IOException, InterruptedException {
        if (++attempts > MAX_ATTEMPTS) {
            throw new IOException(what + ": still failing after " + MAX_ATTEMPTS + " tries with backoff");
        }
        long ceiling = Math.min(MAX_DELAY_MS, MIN_DELAY_MS << Math.min(attempts - 1, 20));
        pause.sleep(ThreadLocalRandom.current().nextLong(ceiling / 2, ceiling + 1));
    }
}
