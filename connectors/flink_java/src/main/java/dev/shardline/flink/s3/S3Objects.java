package dev.shardline.flink.s3;

import org.apache.flink.configuration.Configuration;

import java.io.Serializable;

/**
 * What a {@code shardline-s3} table writes and where: the planner's table sink and the runtime sink both carry it.
 *
 * @param path       s3://bucket/prefix
 * @param client     the AWS client options ({@code KinesisOptions} names)
 * @param timeIndex  the column giving dt=/hour= (-1: the write time)
 * @param seconds    that column is DOUBLE epoch seconds, not BIGINT epoch milliseconds
 * @param avro       objects are Avro containers of envelopes, not one row per line
 * @param maxRecords rows of one partition written early as one object
 * @param attempts   PutObject attempts on throttling or 5xx before the job fails
 */
record S3Objects(String path, Configuration client, int timeIndex, boolean seconds, boolean avro, int maxRecords,
                 int attempts) implements Serializable {
}
