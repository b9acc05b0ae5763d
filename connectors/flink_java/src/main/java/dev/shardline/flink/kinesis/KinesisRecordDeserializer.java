package dev.shardline.flink.kinesis;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.BasicTypeInfo;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.tuple.Tuple4;
import org.apache.flink.api.java.typeutils.TupleTypeInfo;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.util.Collector;

import java.io.IOException;
import java.io.Serializable;

/**
 * Turns each user record the source reads into zero or more outputs.  The DataStream source emits
 * the record's bytes ({@link #bytes()}); the Table source decodes them with the table's format and
 * appends the metadata columns asked for.
 */
public interface KinesisRecordDeserializer<T> extends Serializable, ResultTypeQueryable<T> {

    /** Called once per reader before the first record (a format's schema opens here). */
    default void open(DeserializationSchema.InitializationContext context) throws Exception {}

    void deserialize(KinesisRecord record, Collector<T> out) throws IOException;

    /** The record's bytes, as they are. */
    static KinesisRecordDeserializer<byte[]> bytes() {
        return new KinesisRecordDeserializer<>() {
            private static final long serialVersionUID = 1L;

            @Override
            public void deserialize(KinesisRecord record, Collector<byte[]> out) {
                out.collect(record.data());
            }

            @Override
            public TypeInformation<byte[]> getProducedType() {
                return PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO;
            }
        };
    }

    /**
     * The record's position and bytes: {@code (shard id, sequence number, sub-sequence number, data)}, the
     * sub-sequence 0 outside a KPL aggregate.  A job writes them into a dead letter's source in the form every
     * engine writes ({@code pipelines.engine.kinesis_source}), which {@code dlq redrive} reads.
     */
    static KinesisRecordDeserializer<Tuple4<String, String, Long, byte[]>> positioned() {
        return new KinesisRecordDeserializer<>() {
            private static final long serialVersionUID = 1L;

            @Override
            public void deserialize(KinesisRecord record, Collector<Tuple4<String, String, Long, byte[]>> out) {
                out.collect(Tuple4.of(record.shardId(), record.sequenceNumber(), record.subSequenceNumber(),
                        record.data()));
            }

            @Override
            public TypeInformation<Tuple4<String, String, Long, byte[]>> getProducedType() {
                return new TupleTypeInfo<>(BasicTypeInfo.STRING_TYPE_INFO, BasicTypeInfo.STRING_TYPE_INFO,
                        BasicTypeInfo.LONG_TYPE_INFO, PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
            }
        };
    }
}
