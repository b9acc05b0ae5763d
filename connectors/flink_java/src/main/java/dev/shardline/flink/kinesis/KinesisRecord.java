package dev.shardline.flink.kinesis;

/**
 * One (de-aggregated) user record as read from a shard, with where it was read: what a
 * {@link KinesisRecordDeserializer} turns into the source's output.
 *
 * @param data the user record's bytes
 * @param partitionKey the user record's partition key (inside a KPL aggregate, its own)
 * @param shardId the shard it was read from
 * @param sequenceNumber the Kinesis record's sequence number (shared by the user records of one aggregate)
 * @param subSequenceNumber the user record's index inside its aggregate (0 for a plain record)
 * @param approximateArrivalMillis when Kinesis accepted the record, epoch milliseconds
 */
public record KinesisRecord(byte[] data, String partitionKey, String shardId, String sequenceNumber,
                            long subSequenceNumber, long approximateArrivalMillis) {}
