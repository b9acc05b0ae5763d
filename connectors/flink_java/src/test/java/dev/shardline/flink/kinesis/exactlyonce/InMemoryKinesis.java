package dev.shardline.flink.kinesis.exactlyonce;

import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.core.exception.ApiCallTimeoutException;
import software.amazon.awssdk.services.kinesis.KinesisClient;
import software.amazon.awssdk.services.kinesis.model.GetRecordsRequest;
import software.amazon.awssdk.services.kinesis.model.GetRecordsResponse;
import software.amazon.awssdk.services.kinesis.model.GetShardIteratorRequest;
import software.amazon.awssdk.services.kinesis.model.GetShardIteratorResponse;
import software.amazon.awssdk.services.kinesis.model.HashKeyRange;
import software.amazon.awssdk.services.kinesis.model.ListShardsRequest;
import software.amazon.awssdk.services.kinesis.model.ListShardsResponse;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequest;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequestEntry;
import software.amazon.awssdk.services.kinesis.model.PutRecordsResponse;
import software.amazon.awssdk.services.kinesis.model.PutRecordsResultEntry;
import software.amazon.awssdk.services.kinesis.model.Record;
import software.amazon.awssdk.services.kinesis.model.Shard;
import software.amazon.awssdk.services.kinesis.model.ShardIteratorType;

import java.math.BigInteger;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/** A stream of two shards in memory, speaking the calls the committer makes; puts can be scripted to fail. */
final class InMemoryKinesis implements KinesisClient {
    private static final BigInteger HALF = BigInteger.ONE.shiftLeft(127);
    final List<List<Record>> shards = List.of(new ArrayList<>(), new ArrayList<>());
    final List<Integer> putSizes = new ArrayList<>();
    int getRecordsCalls;
    int atTimestampTimeouts;
    long now = 1_000_000;
    /** Per PutRecords call: what to do with it (null: write all). */
    Function<PutRecordsRequest, RuntimeException> failCall = r -> null;
    /** Per entry: an error code to answer with instead of writing it (null: write it). */
    Function<PutRecordsRequestEntry, String> failEntry = e -> null;

    void append(String key, byte[] data) {
        List<Record> shard = shards.get(StreamReadBack.hashKey(key).compareTo(HALF) < 0 ? 0 : 1);
        shard.add(Record.builder().partitionKey(key).data(SdkBytes.fromByteArray(data))
                .sequenceNumber(String.valueOf(shard.size())).approximateArrivalTimestamp(Instant.ofEpochMilli(now++))
                .build());
    }

    int size() {
        return shards.get(0).size() + shards.get(1).size();
    }

    @Override
    public PutRecordsResponse putRecords(PutRecordsRequest request) {
        RuntimeException failure = failCall.apply(request);
        if (failure != null) {
            throw failure;
        }
        putSizes.add(request.records().size());
        List<PutRecordsResultEntry> results = new ArrayList<>();
        int failed = 0;
        for (PutRecordsRequestEntry entry : request.records()) {
            String code = failEntry.apply(entry);
            if (code == null) {
                append(entry.partitionKey(), entry.data().asByteArray());
                results.add(PutRecordsResultEntry.builder().shardId("s").sequenceNumber("1").build());
            } else {
                failed++;
                results.add(PutRecordsResultEntry.builder().errorCode(code).errorMessage("no").build());
            }
        }
        return PutRecordsResponse.builder().failedRecordCount(failed).records(results).build();
    }

    @Override
    public ListShardsResponse listShards(ListShardsRequest request) {
        BigInteger max = BigInteger.ONE.shiftLeft(128).subtract(BigInteger.ONE);
        return ListShardsResponse.builder().shards(
                Shard.builder().shardId("0").hashKeyRange(HashKeyRange.builder().startingHashKey("0")
                        .endingHashKey(HALF.subtract(BigInteger.ONE).toString()).build()).build(),
                Shard.builder().shardId("1").hashKeyRange(HashKeyRange.builder().startingHashKey(HALF.toString())
                        .endingHashKey(max.toString()).build()).build()).build();
    }

    @Override
    public GetShardIteratorResponse getShardIterator(GetShardIteratorRequest request) {
        List<Record> shard = shards.get(Integer.parseInt(request.shardId()));
        int at = 0;
        if (request.shardIteratorType() == ShardIteratorType.AT_TIMESTAMP) {
            while (at < shard.size() && shard.get(at).approximateArrivalTimestamp().isBefore(request.timestamp())) {
                at++;
            }
            if (at == shard.size()) {
                atTimestampTimeouts++;
                throw ApiCallTimeoutException.create(2000);  // kinesalite never answers this one
            }
        }
        return GetShardIteratorResponse.builder().shardIterator(request.shardId() + ":" + at).build();
    }

    @Override
    public GetRecordsResponse getRecords(GetRecordsRequest request) {
        getRecordsCalls++;
        String[] parts = request.shardIterator().split(":");
        List<Record> shard = shards.get(Integer.parseInt(parts[0]));
        int from = Integer.parseInt(parts[1]);
        int to = Math.min(shard.size(), from + Math.min(request.limit(), 3));  // small pages: exercise the loop
        return GetRecordsResponse.builder().records(shard.subList(from, to))
                .millisBehindLatest(to < shard.size() ? 1000L : 0L).nextShardIterator(parts[0] + ":" + to).build();
    }

    @Override
    public String serviceName() {
        return "kinesis";
    }

    @Override
    public void close() {}
}
