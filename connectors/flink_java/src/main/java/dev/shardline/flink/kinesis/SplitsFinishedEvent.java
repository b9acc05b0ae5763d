package dev.shardline.flink.kinesis;

import org.apache.flink.api.connector.source.SourceEvent;

import java.util.Set;

/** Reader to enumerator: these shards were read to their end, so their children may be assigned. */
public final class SplitsFinishedEvent implements SourceEvent {
    private static final long serialVersionUID = 1L;
    final Set<String> shardIds;

    SplitsFinishedEvent(Set<String> shardIds) {
        this.shardIds = Set.copyOf(shardIds);
    }

    @Override
    public String toString() {
        return "SplitsFinishedEvent" + shardIds;
    }
}
