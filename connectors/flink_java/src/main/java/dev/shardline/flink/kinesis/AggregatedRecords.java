package dev.shardline.flink.kinesis;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * De-aggregation of KPL records: magic F3 89 9A C2, a protobuf AggregatedRecord, then the MD5 of
 * the protobuf bytes.  Only the user records' data and partition keys are needed here, so the few lines
 * of protobuf wire-format reading are written by hand instead of shading protobuf-java (2 MB) and
 * generated code.
 *
 * <pre>
 * message AggregatedRecord { repeated string partition_key_table = 1;
 *   repeated string explicit_hash_key_table = 2; repeated Record records = 3; }
 * message Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
 *   required bytes data = 3; repeated Tag tags = 4; }
 * </pre>
 */
final class AggregatedRecords {
    static final byte[] MAGIC = {(byte) 0xF3, (byte) 0x89, (byte) 0x9A, (byte) 0xC2};
    private static final int MD5_LENGTH = 16;

    private AggregatedRecords() {}

    /** One user record of a Kinesis record: its data and its own partition key. */
    record UserRecordData(byte[] data, String partitionKey) {}

    /** The user records' data (tests and callers that need no keys). */
    static List<byte[]> deaggregate(byte[] data) {
        return deaggregate(data, "").stream().map(UserRecordData::data).toList();
    }

    /**
     * The user records, each with its partition key from the aggregate's key table.  Like the KCL,
     * anything that is not a well-formed aggregate (no magic, MD5 mismatch, broken protobuf) is
     * returned as one plain record with the Kinesis record's key, so nothing is dropped.
     */
    static List<UserRecordData> deaggregate(byte[] data, String partitionKey) {
        List<UserRecordData> plain = List.of(new UserRecordData(data, partitionKey));
        if (data.length < MAGIC.length + MD5_LENGTH || !Arrays.equals(data, 0, MAGIC.length, MAGIC, 0, MAGIC.length)) {
            return plain;
        }
        int end = data.length - MD5_LENGTH;
        byte[] digest = md5(data, MAGIC.length, end - MAGIC.length);
        if (!Arrays.equals(digest, 0, MD5_LENGTH, data, end, data.length)) {
            return plain;
        }
        try {
            List<String> keys = new ArrayList<>();
            List<Reader> records = new ArrayList<>();
            Reader message = new Reader(data, MAGIC.length, end);
            while (message.more()) {
                int tag = (int) message.varint();
                if (tag == ((1 << 3) | 2)) {
                    Reader key = message.lengthDelimited();
                    keys.add(new String(key.buffer, key.position, key.end - key.position, StandardCharsets.UTF_8));
                } else if (tag == ((3 << 3) | 2)) {
                    records.add(message.lengthDelimited());
                } else {
                    message.skip(tag & 7);
                }
            }
            List<UserRecordData> out = new ArrayList<>(records.size());
            for (Reader record : records) {
                out.add(userRecord(record, keys, partitionKey));
            }
            return out;
        } catch (IndexOutOfBoundsException | IllegalStateException e) {
            return plain;
        }
    }

    private static UserRecordData userRecord(Reader record, List<String> keys, String fallbackKey) {
        byte[] found = null;
        long keyIndex = -1;
        while (record.more()) {
            int tag = (int) record.varint();
            if (tag == ((3 << 3) | 2)) {
                Reader field = record.lengthDelimited();
                found = Arrays.copyOfRange(field.buffer, field.position, field.end);
            } else if (tag == (1 << 3)) {
                keyIndex = record.varint();
            } else {
                record.skip(tag & 7);
            }
        }
        if (found == null) {
            throw new IllegalStateException("aggregated record without data");
        }
        String key = keyIndex >= 0 && keyIndex < keys.size() ? keys.get((int) keyIndex) : fallbackKey;
        return new UserRecordData(found, key);
    }

    private static byte[] md5(byte[] data, int offset, int length) {
        try {
            MessageDigest md5 = MessageDigest.getInstance("MD5");
            md5.update(data, offset, length);
            return md5.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JVM has no MD5", e);
        }
    }

    /** A cursor over protobuf wire format within [position, end). */
    private static final class Reader {
        final byte[] buffer;
        int position;
        final int end;

        Reader(byte[] buffer, int position, int end) {
            this.buffer = buffer;
            this.position = position;
            this.end = end;
        }

        boolean more() {
            return position < end;
        }

        long varint() {
            long value = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                if (position >= end) {
                    throw new IndexOutOfBoundsException("truncated varint");
                }
                byte b = buffer[position++];
                value |= (long) (b & 0x7F) << shift;
                if (b >= 0) {
                    return value;
                }
            }
            throw new IllegalStateException("varint longer than 10 bytes");
        }

        Reader lengthDelimited() {
            long length = varint();
            if (length < 0 || length > end - position) {
                throw new IndexOutOfBoundsException("field runs past its message");
            }
            Reader field = new Reader(buffer, position, position + (int) length);
            position += (int) length;
            return field;
        }

        void skip(int wireType) {
            switch (wireType) {
                case 0 -> varint();
                case 1 -> position += 8;
                case 2 -> lengthDelimited();
                case 5 -> position += 4;
                default -> throw new IllegalStateException("unsupported wire type " + wireType);
            }
            if (position > end) {
                throw new IndexOutOfBoundsException("field runs past its message");
            }
        }
    }
}
