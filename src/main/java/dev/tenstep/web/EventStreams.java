package dev.tenstep.web;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javalin.http.sse.SseClient;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Server-sent event streams of jobs. Each job's events (see {@link Job}) are replayed from the
 * start and then followed live; the stream closes once every job has sent its terminal event.
 * One job: {@code GET /api/jobs/{id}/events}, the data as the job emitted it. Several jobs over
 * one connection: {@code GET /api/events?jobs=a,b,...}, each event's data with the job's id first
 * under {@code job} (browsers open at most 6 HTTP/1.1 connections per host, so a page follows all
 * its jobs on one stream).
 */
final class EventStreams {
    private static final Logger LOG = LoggerFactory.getLogger(EventStreams.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** A comment line is sent after this long without events, so proxies keep the connection. */
    static final long KEEP_ALIVE_SECONDS = 15;

    /** One event of one job, as queued for the stream. */
    private record Tagged(Job job, Job.Event event) {
    }

    private EventStreams() {
    }

    /** Streams one job's events unchanged; returns when the job has ended or the client left. */
    static void single(SseClient client, Job job) {
        stream(client, List.of(job), false);
    }

    /**
     * Streams the events of {@code jobs} interleaved as they happen (each job's own events stay in
     * order), each data object carrying {@code job}: the job id.
     *
     * @param jobs distinct jobs
     */
    static void multiplexed(SseClient client, List<Job> jobs) {
        stream(client, jobs, true);
    }

    private static void stream(SseClient client, List<Job> jobs, boolean tag) {
        BlockingQueue<Tagged> events = new LinkedBlockingQueue<>();
        Map<Job, Consumer<Job.Event>> sinks = new LinkedHashMap<>();
        for (Job job : jobs) {
            Consumer<Job.Event> sink = e -> events.add(new Tagged(job, e));
            sinks.put(job, sink);
            job.subscribe(sink);
        }
        try {
            int open = jobs.size();
            int n = 0;
            while (open > 0 && !client.terminated()) {
                Tagged t = events.poll(KEEP_ALIVE_SECONDS, TimeUnit.SECONDS);
                if (t == null) {
                    client.sendComment("keep-alive");
                    continue;
                }
                Object data = t.event().data();
                if (tag) {
                    ObjectNode tagged = JSON.createObjectNode().put("job", t.job().id());
                    tagged.setAll((ObjectNode) JSON.valueToTree(data));
                    data = tagged;
                }
                client.sendEvent(t.event().name(), JSON.writeValueAsString(data), Integer.toString(n++));
                if (t.event().terminal()) {
                    open--;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (JsonProcessingException e) {
            LOG.warn("cannot serialise an event of jobs {}", jobs.stream().map(Job::id).toList(), e);
        } finally {
            sinks.forEach(Job::unsubscribe);
        }
    }
}
