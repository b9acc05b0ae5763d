package dev.shardline.flink.s3;

import dev.shardline.flink.kinesis.KinesisOptions;
import dev.shardline.flink.table.TableEncoders;

import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.table.data.RowData;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;
import software.amazon.awssdk.services.s3.model.S3Exception;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;

/** Rows to S3 objects, one per hour partition each time the writer is flushed (every checkpoint). */
final class S3ObjectsSink implements Sink<RowData> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(S3ObjectsSink.class);
    private static final DateTimeFormatter HOUR =
            DateTimeFormatter.ofPattern("'dt='yyyy-MM-dd'/hour='HH").withZone(ZoneOffset.UTC);

    private final S3Objects objects;
    private final String bucket;
    private final String prefix;
    private final SerializationSchema<RowData> encoder;

    S3ObjectsSink(S3Objects objects, SerializationSchema<RowData> encoder) {
        String rest = objects.path().substring("s3://".length());
        int slash = rest.indexOf('/');
        this.bucket = slash < 0 ? rest : rest.substring(0, slash);
        String prefix = slash < 0 ? "" : rest.substring(slash + 1).replaceAll("^/+|/+$", "");
        this.prefix = prefix.isEmpty() ? "" : prefix + "/";
        this.objects = objects;
        this.encoder = encoder;
    }

    @Override
    public SinkWriter<RowData> createWriter(WriterInitContext context) throws IOException {
        TableEncoders.open(encoder, context);
        Configuration client = objects.client();
        S3Client s3 = KinesisOptions.configure(S3Client.builder().httpClient(UrlConnectionHttpClient.create())
                .forcePathStyle(client.getOptional(KinesisOptions.AWS_ENDPOINT).isPresent()), client).build();
        return new Writer(s3, context.getTaskInfo().getIndexOfThisSubtask());
    }

    private final class Writer implements SinkWriter<RowData> {
        private final S3Client s3;
        private final int subtask;
        private final Map<String, List<byte[]>> partitions = new TreeMap<>();
        private long lastHour = Long.MIN_VALUE;
        private String lastPartition;
        private int counter;

        Writer(S3Client s3, int subtask) {
            this.s3 = s3;
            this.subtask = subtask;
        }

        @Override
        public void write(RowData row, Context context) throws IOException {
            String partition = partition(timeOf(row));
            List<byte[]> rows = partitions.computeIfAbsent(partition, p -> new ArrayList<>());
            rows.add(encoder.serialize(row));
            if (rows.size() >= objects.maxRecords()) {
                put(partition, rows);
            }
        }

        @Override
        public void flush(boolean endOfInput) throws IOException {
            for (Map.Entry<String, List<byte[]>> entry : partitions.entrySet()) {
                if (!entry.getValue().isEmpty()) {
                    put(entry.getKey(), entry.getValue());
                }
            }
            partitions.clear();
        }

        @Override
        public void close() {
            s3.close();
        }

        private long timeOf(RowData row) {
            int column = objects.timeIndex();
            if (column < 0 || row.isNullAt(column)) {
                return System.currentTimeMillis();
            }
            return objects.seconds() ? (long) (row.getDouble(column) * 1000) : row.getLong(column);
        }

        private String partition(long epochMillis) {
            long hour = Math.floorDiv(epochMillis, 3_600_000L);
            if (hour != lastHour) {  // rows come in time order mostly: format each hour once
                lastHour = hour;
                lastPartition = HOUR.format(Instant.ofEpochMilli(hour * 3_600_000L));
            }
            return lastPartition;
        }

        private void put(String partition, List<byte[]> rows) throws IOException {
            byte[] body = objects.avro() ? AvroContainer.file(rows) : lines(rows);
            String key = String.format("%s%s/%013d-%03d-%06d.%s", prefix, partition, System.currentTimeMillis(),
                    subtask, counter++, objects.avro() ? "avro" : "jsonl");
            PutObjectRequest request = PutObjectRequest.builder().bucket(bucket).key(key)
                    .contentType(objects.avro() ? "avro/binary" : "application/x-ndjson").build();
            for (int attempt = 1; ; attempt++) {
                try {
                    s3.putObject(request, RequestBody.fromBytes(body));
                    LOG.info("event=s3_object_written bucket={} key={} records={}", bucket, key, rows.size());
                    rows.clear();
                    return;
                } catch (S3Exception e) {
                    boolean retryable = e.statusCode() >= 500 || e.isThrottlingException();
                    if (!retryable || attempt >= objects.attempts()) {
                        throw new IOException("PutObject s3://" + bucket + "/" + key + " failed ("
                                + (e.awsErrorDetails() == null ? e.statusCode() : e.awsErrorDetails().errorCode())
                                + "); check the bucket, the region/endpoint and the credentials", e);
                    }
                    backOff(attempt);
                } catch (SdkClientException e) {
                    if (attempt >= objects.attempts()) {
                        throw new IOException("cannot reach S3 at " + KinesisOptions.describeEndpoint(objects.client())
                                + ": " + e.getMessage(), e);
                    }
                    backOff(attempt);
                }
            }
        }

        private byte[] lines(List<byte[]> rows) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (byte[] row : rows) {
                out.writeBytes(row);
                out.write('\n');
            }
            return out.toByteArray();
        }

        private void backOff(int attempt) throws IOException {
            long ceiling = Math.min(5_000L, 100L << Math.min(attempt, 10));
            try {
                Thread.sleep(ThreadLocalRandom.current().nextLong(ceiling + 1));  // full jitter
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while retrying a PutObject", e);
            }
        }
    }
}
