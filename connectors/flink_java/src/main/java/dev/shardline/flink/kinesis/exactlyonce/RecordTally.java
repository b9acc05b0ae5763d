package dev.shardline.flink.kinesis.exactlyonce;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A committable's records as a multiset keyed by SHA-256 of (partition key, data), less the copies read back
 * from the stream.  Kinesis has no idempotent put, so "already written" can only mean "a record with the same
 * key and bytes is on the stream"; a multiset keeps two identical records in one committable apart from one
 * (one found on the stream: one more is written).
 */
public final class RecordTally {
    private final List<KinesisCommittable.Entry> entries;
    private final Map<ByteBuffer, Integer> outstanding = new HashMap<>();
    private int outstandingCount;

    public RecordTally(List<KinesisCommittable.Entry> entries) {
        this.entries = entries;
        for (KinesisCommittable.Entry entry : entries) {
            outstanding.merge(digest(entry.partitionKey(), entry.data()), 1, Integer::sum);
        }
        this.outstandingCount = entries.size();
    }

    /** A record read from the stream: it accounts for one copy of an equal record of the committable, if one is left. */
    public void found(String partitionKey, byte[] data) {
        ByteBuffer key = digest(partitionKey, data);
        Integer left = outstanding.get(key);
        if (left != null && left > 0) {
            outstanding.put(key, left - 1);
            outstandingCount--;
        }
    }

    /** Every record of the committable is accounted for: reading further cannot change the answer. */
    public boolean complete() {
        return outstandingCount == 0;
    }

    /** The records still to write, in the committable's order: for a record written k of n times, its last n - k. */
    public List<KinesisCommittable.Entry> missing() {
        Map<ByteBuffer, Integer> alreadyWritten = new HashMap<>();
        Map<ByteBuffer, Integer> total = new HashMap<>();
        for (KinesisCommittable.Entry entry : entries) {
            total.merge(digest(entry.partitionKey(), entry.data()), 1, Integer::sum);
        }
        total.forEach((key, count) -> alreadyWritten.put(key, count - outstanding.get(key)));
        List<KinesisCommittable.Entry> missing = new ArrayList<>(outstandingCount);
        for (KinesisCommittable.Entry entry : entries) {
            ByteBuffer key = digest(entry.partitionKey(), entry.data());
            int skip = alreadyWritten.get(key);
            if (skip > 0) {
                alreadyWritten.put(key, skip - 1);
            } else {
                missing.add(entry);
            }
        }
        return missing;
    }

    /** SHA-256 over the key's length, the key and the data: the length keeps ("ab", "c") apart from ("a", "bc"). */
    static ByteBuffer digest(String partitionKey, byte[] data) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            byte[] key = partitionKey.getBytes(StandardCharsets.UTF_8);
            sha.update(ByteBuffer.allocate(4).putInt(key.length).array());
            sha.update(key);
            sha.update(data);
            return ByteBuffer.wrap(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM has SHA-256", e);
        }
    }
}
