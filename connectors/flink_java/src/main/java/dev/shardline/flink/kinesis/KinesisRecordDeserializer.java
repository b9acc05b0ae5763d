package dev.shardline.flink.kinesis;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.BasicTypeInfo;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.tuple.Tuple2;
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
     * The record's position and bytes: {@code (shard/sequence[:sub-sequence], data)}, the sub-sequence only
     * inside a KPL aggregate.  A job prefixes {@code kinesis:<stream>/} to give a dead letter the position
     * every engine writes, which {@code dlq redrive} reads.
     */
    static KinesisRecordDeserializer<Tuple2<String, byte[]>> positioned() {
        return new KinesisRecordDeserializer<>() {
            private static final long serialVersionUID = 1L;

            @Override
            public void deserialize(KinesisRecord record, Collector<Tuple2<String, byte[]>> out) {
                String position = record.shardId() + "/" + record.sequenceNumber()
                        + (record.subSequenceNumber() > 0 ? ":" + record.subSequenceNumber() : "");
                out.collect(Tuple2.of(position, record.data()));
            }

            @Override
            public TypeInformation<Tuple2<String, byte[]>> getProducedType() {
                return new TupleTypeInfo<>(BasicTypeInfo.STRING_TYPE_INFO,
                        PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
            }
        };
    }
}
