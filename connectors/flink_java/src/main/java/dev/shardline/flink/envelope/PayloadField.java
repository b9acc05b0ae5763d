package dev.shardline.flink.envelope;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.ScalarFunction;

import java.io.IOException;

/**
 * {@code payload_field(payload, name) -> STRING}: the top-level string field {@code name} of a payload given as
 * JSON text (the {@code shardline-envelope} format's {@code payload} column); NULL when the payload is NULL, is
 * no JSON object, or has no such string field.
 *
 * <p>What a job keys its records by (the event-sourcing job: {@code aggregate_id}).  {@code JSON_VALUE} gives
 * the same and cost a third of the source's thread (JFR): it parses the whole payload into a map for JsonPath;
 * this reads tokens up to the field and skips the values before it.
 */
public final class PayloadField extends ScalarFunction {
    private static final long serialVersionUID = 1L;

    /** {@code payload} as the table holds it: its UTF-8 is parsed as it is, with no Java string made of it. */
    public String eval(@DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData payload, String name) {
        if (payload == null || name == null) {
            return null;
        }
        try (JsonParser parser = Json.parser(payload.toBytes())) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                boolean wanted = name.equals(parser.currentName());
                JsonToken value = parser.nextToken();
                if (wanted) {
                    return value == JsonToken.VALUE_STRING ? parser.getText() : null;
                }
                parser.skipChildren();
            }
            return null;
        } catch (IOException e) {
            return null;
        }
    }
}
