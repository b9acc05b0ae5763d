package dev.shardline.flink.kinesis;

import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.core.exception.SdkClientException;

import java.util.Set;
import java.util.concurrent.CompletionException;

/**
 * How our AsyncSinks read a failed call, the same for every service: the cause inside the future's wrapper,
 * whether it is worth another try (throttling, a 5xx, or a code the service names as such), and the code a
 * message gives the user.
 */
public final class AwsCallFailure {
    private AwsCallFailure() {}

    /** The exception a failed async call carries inside its CompletionException. */
    public static Throwable cause(Throwable error) {
        return error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
    }

    /** Throttling, a server error, or one of {@code alsoRetryable} (error codes): try again later. */
    public static boolean retryable(Throwable cause, Set<String> alsoRetryable) {
        return cause instanceof AwsServiceException e && (e.isThrottlingException() || e.statusCode() >= 500
                || (e.awsErrorDetails() != null && alsoRetryable.contains(e.awsErrorDetails().errorCode())));
    }

    /** The service's error code, "unreachable" when no answer came, else the exception's type. */
    public static String code(Throwable cause) {
        if (cause instanceof AwsServiceException e && e.awsErrorDetails() != null) {
            return e.awsErrorDetails().errorCode();
        }
        return cause instanceof SdkClientException ? "unreachable" : cause.getClass().getSimpleName();
    }
}
