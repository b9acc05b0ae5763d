package dev.shardline.flink.s3;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.List;
import java.util.zip.Deflater;

/**
 * An Avro object container file of envelope datums already encoded (the S3 objects the Python sinks write):
 * the header with the envelope schema and the deflate codec, one block, the sync marker.
 *
 * <p>By hand for the same reason as the codec: the Avro library is not on the Flink runtime's classpath, and
 * a container is four fields around the datums.
 */
final class AvroContainer {
    private AvroContainer() {}

    private static final byte[] MAGIC = {'O', 'b', 'j', 1};
    private static final byte[] SCHEMA = schema();

    private static byte[] schema() {
        try (InputStream in = AvroContainer.class.getResourceAsStream("/envelope.avsc")) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).strip().getBytes(StandardCharsets.UTF_8);
        } catch (IOException | NullPointerException e) {
            throw new IllegalStateException("envelope.avsc is missing from the connector jar", e);
        }
    }

    static byte[] file(List<byte[]> datums) {
        byte[] sync = new byte[16];
        new SecureRandom().nextBytes(sync);
        int size = 0;
        for (byte[] datum : datums) {
            size += datum.length;
        }
        ByteArrayOutputStream block = new ByteArrayOutputStream(size);  // sized: growing it copied it ~log2(size) times
        datums.forEach(block::writeBytes);
        byte[] compressed = deflate(block.toByteArray());
        ByteArrayOutputStream out = new ByteArrayOutputStream(SCHEMA.length + compressed.length + 128);
        out.writeBytes(MAGIC);
        varlong(out, 2);
        bytes(out, "avro.schema".getBytes(StandardCharsets.UTF_8));
        bytes(out, SCHEMA);
        bytes(out, "avro.codec".getBytes(StandardCharsets.UTF_8));
        bytes(out, "deflate".getBytes(StandardCharsets.UTF_8));
        varlong(out, 0);
        out.writeBytes(sync);
        varlong(out, datums.size());
        varlong(out, compressed.length);
        out.writeBytes(compressed);
        out.writeBytes(sync);
        return out.toByteArray();
    }

    private static byte[] deflate(byte[] data) {
        Deflater deflater = new Deflater(Deflater.DEFAULT_COMPRESSION, true);  // raw deflate, as Avro's codec is
        try {
            deflater.setInput(data);
            deflater.finish();
            ByteArrayOutputStream out = new ByteArrayOutputStream(Math.max(64, data.length / 2));
            byte[] buffer = new byte[64 * 1024];
            while (!deflater.finished()) {
                out.write(buffer, 0, deflater.deflate(buffer));
            }
            return out.toByteArray();
        } finally {
            deflater.end();
        }
    }

    private static void varlong(ByteArrayOutputStream out, long value) {
        long raw = (value << 1) ^ (value >> 63);
        while ((raw & ~0x7FL) != 0) {
            out.write((int) ((raw & 0x7F) | 0x80));
            raw >>>= 7;
        }
        out.write((int) raw);
    }

    private static void bytes(ByteArrayOutputStream out, byte[] data) {
        varlong(out, data.length);
        out.write(data, 0, data.length);
    }
}
