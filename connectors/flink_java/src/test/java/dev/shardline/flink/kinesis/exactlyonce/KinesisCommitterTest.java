package dev.shardline.flink.kinesis.exactlyonce;

import org.apache.flink.metrics.SimpleCounter;
import org.junit.jupiter.api.Test;

import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.kinesis.model.KinesisException;
import software.amazon.awssdk.services.kinesis.model.ResourceNotFoundException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KinesisCommitterTest {
    private final InMemoryKinesis kinesis = new InMemoryKinesis();
    private final List<Long> pauses = new ArrayList<>();
    private final SimpleCounter skipped = new SimpleCounter();

    private KinesisCommitter committer(boolean restored) {
        return new KinesisCommitter("out", kinesis, false, restored, skipped, () -> kinesis.now, pauses::add);
    }

    private KinesisCommittable committable(int count) {
        KinesisCommittable.Builder builder = KinesisCommittable.builder(0, kinesis.now);
        for (int i = 0; i < count; i++) {
            builder.add("key-" + i % 7, ("event-" + i).getBytes(StandardCharsets.UTF_8));
        }
        return builder.build();
    }

    private Map<String, Integer> copiesOnTheStream() {
        Map<String, Integer> copies = new HashMap<>();
        kinesis.shards.forEach(shard -> shard.forEach(r -> copies.merge(r.data().asUtf8String(), 1, Integer::sum)));
        return copies;
    }

    @Test
    void aFreshCommitterWritesWithoutReadingInCallsOfAtMost500() throws Exception {
        KinesisCommittable batch = committable(1_200);
        kinesis.now += 5;
        assertEquals(0, committer(false).commit(batch));
        assertEquals(1_200, kinesis.size());
        assertEquals(List.of(500, 500, 200), kinesis.putSizes);
        assertEquals(0, kinesis.getRecordsCalls, "no read-back without a restore");
    }

    @Test
    void aRestoredCommitterWritesNothingTwice() throws Exception {
        KinesisCommittable batch = committable(40);
        kinesis.now += 5;
        committer(false).commit(batch);
        kinesis.now += 60_000;  // the restart takes a minute: later records are on the stream too
        kinesis.append("other", "unrelated".getBytes());

        assertEquals(40, committer(true).commit(batch));

        assertEquals(41, kinesis.size());
        assertEquals(40, skipped.getCount());
        assertTrue(copiesOnTheStream().values().stream().allMatch(n -> n == 1), copiesOnTheStream().toString());
    }

    @Test
    void aHalfWrittenCommittableGetsOnlyItsMissingHalf() throws Exception {
        KinesisCommittable batch = committable(30);
        kinesis.now += 5;
        KinesisCommittable firstHalf = new KinesisCommittable(0, batch.createdAtMillis(), batch.entries().subList(0, 15));
        committer(false).commit(firstHalf);  // the crash came here

        assertEquals(15, committer(true).commit(batch));

        assertEquals(30, kinesis.size());
        assertEquals(Collections.nCopies(30, 1), new ArrayList<>(copiesOnTheStream().values()));
    }

    @Test
    void identicalRecordsInOneCommittableAreCountedAsAMultiset() throws Exception {
        KinesisCommittable batch = KinesisCommittable.builder(0, kinesis.now).add("k", "same".getBytes())
                .add("k", "same".getBytes()).add("k", "same".getBytes()).build();
        kinesis.now += 5;
        kinesis.append("k", "same".getBytes());  // one of three made it before the crash

        assertEquals(1, committer(true).commit(batch));
        assertEquals(3, copiesOnTheStream().get("same"));
    }

    @Test
    void aShardWithNothingSinceTheCommittableIsReadFromTrimHorizonWhenAtTimestampGoesUnanswered() throws Exception {
        kinesis.append("key-1", "event-1".getBytes());  // long before the committable: not one of its records
        kinesis.now += 120_000;
        KinesisCommittable batch = committable(2);
        kinesis.now += 5;

        assertEquals(0, committer(true).commit(batch));

        assertTrue(kinesis.atTimestampTimeouts > 0);
        assertEquals(2, copiesOnTheStream().get("event-1"), "the old twin is older than the committable's margin");
        assertEquals(1, copiesOnTheStream().get("event-0"));
    }

    @Test
    void aCommittableMadeAfterTheRestoreIsNotReadBack() throws Exception {
        KinesisCommitter restored = committer(true);
        kinesis.now += KinesisCommitter.CLOCK_MARGIN.toMillis() + 1;
        restored.commit(committable(10));
        assertEquals(0, kinesis.getRecordsCalls);
        assertEquals(10, kinesis.size());
    }

    @Test
    void onlyTheEntriesAResponseMarksFailedAreSentAgain() throws Exception {
        int[] refusals = {3};
        kinesis.failEntry = e -> e.partitionKey().equals("key-1") && refusals[0]-- > 0
                ? "ProvisionedThroughputExceededException" : null;
        committer(false).commit(committable(20));
        assertEquals(20, kinesis.size());
        assertEquals(Collections.nCopies(20, 1), new ArrayList<>(copiesOnTheStream().values()));
        assertEquals(List.of(20, 3), kinesis.putSizes, "the three refused entries, and only they, again");
        assertEquals(1, pauses.size(), "a backoff after a partial failure");
    }

    @Test
    void aThrottledCallIsSentAgainAfterABackoff() throws Exception {
        int[] throttles = {2};
        kinesis.failCall = r -> throttles[0]-- > 0 ? KinesisException.builder().statusCode(400).awsErrorDetails(
                AwsErrorDetails.builder().errorCode("LimitExceededException").build()).build() : null;
        committer(false).commit(committable(5));
        assertEquals(5, kinesis.size());
        assertEquals(2, pauses.size());
    }

    @Test
    void aLostAnswerIsFollowedByAReadBackNotABlindResend() throws Exception {
        boolean[] lost = {false};
        kinesis.failCall = r -> {
            if (!lost[0] && r.records().size() == 500) {
                lost[0] = true;
                r.records().forEach(e -> kinesis.append(e.partitionKey(), e.data().asByteArray()));
                return SdkClientException.create("read timed out");  // written, but the answer never came
            }
            return null;
        };
        committer(false).commit(committable(700));
        assertEquals(700, kinesis.size());
        assertTrue(copiesOnTheStream().values().stream().allMatch(n -> n == 1));
        assertTrue(kinesis.getRecordsCalls > 0);
    }

    @Test
    void aMissingStreamFailsWithTheCodeAndNoRecordContents() {
        kinesis.failCall = r -> ResourceNotFoundException.builder().statusCode(400).awsErrorDetails(
                AwsErrorDetails.builder().errorCode("ResourceNotFoundException").build()).build();
        IOException error = assertThrows(IOException.class, () -> committer(false).commit(committable(3)));
        assertTrue(error.getMessage().contains("ResourceNotFoundException"), error.getMessage());
        assertTrue(!error.getMessage().contains("event-"), error.getMessage());
    }
}
