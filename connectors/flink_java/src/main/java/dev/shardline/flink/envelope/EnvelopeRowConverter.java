package dev.shardline.flink.envelope;

import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.connector.base.sink.writer.ElementConverter;
import org.apache.flink.types.Row;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequestEntry;

/**
 * A row of envelope columns, by position ({@code id, type, source, event_time, partition_key, schema, payload}
 * with the payload as JSON text), to a Kinesis entry of its Avro envelope under its partition key.
 *
 * <p>For the Kinesis sinks fed by a Python DataStream operator: the envelope is encoded here, as the
 * {@code shardline-envelope} format does, rather than in the Python worker, where {@code to_avro} cost about
 * 30 us a record (the event-sourcing job's derived events).  A row that makes no valid envelope is a bug in
 * the job that built it, and fails with the field and the reason.
 */
public final class EnvelopeRowConverter implements ElementConverter<Row, PutRecordsRequestEntry> {
    private static final long serialVersionUID = 1L;

    @Override
    public PutRecordsRequestEntry apply(Row row, SinkWriter.Context context) {
        EnvelopeCodec.Envelope envelope = envelope(row);
        try {
            return PutRecordsRequestEntry.builder().partitionKey(envelope.partitionKey())
                    .data(SdkBytes.fromByteArrayUnsafe(EnvelopeCodec.encode(envelope))).build();
        } catch (EnvelopeCodec.EnvelopeException e) {
            throw new IllegalArgumentException("cannot write this row as an envelope: " + e.getMessage());
        }
    }

    static EnvelopeCodec.Envelope envelope(Row row) {
        Object eventTime = row.getField(3);
        Object payload = row.getField(6);
        return new EnvelopeCodec.Envelope((String) row.getField(0), (String) row.getField(1),
                (String) row.getField(2), eventTime == null ? 0L : ((Number) eventTime).longValue(),
                (String) row.getField(4), (String) row.getField(5), payload == null ? "{}" : (String) payload);
    }
}
