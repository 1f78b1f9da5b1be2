import ClipTraceDecoding
import ClipTraceExtraction
import TestSupport
import Testing

/// The extraction that decodes on its own thread, a few frames ahead, observes exactly what one thread
/// decoding and observing in turn does: the pipeline changes when work happens, never its result.
@Suite("Extraction pipeline")
struct ExtractionPipelineTests {
    @Test("decoding ahead on its own thread gives the same observations, frame for frame, as one thread")
    func pipelinedEqualsSequential() throws {
        for name in ["recordings/stream_with_window_copy.mp4", "recordings/stream_with_cropped_copy.mp4", "formats/vfr.mp4"] {
            let path = Repository.path("testmedia/\(name)")
            let options = ExtractionOptions.query
            let pipelined = try Fingerprinter(options: options).extract(path: path)
            let decoder = try VideoDecoder(path: path, options: options.decoding)
            let stream = ObservationStream(options: options)
            while let sample = try decoder.nextSample() { stream.push(sample) }
            stream.finish()
            #expect(!stream.frames.isEmpty)
            #expect(pipelined.observations.frames == stream.frames, "\(name)")
            #expect(pipelined.observations.cornerFrames == stream.cornerFrames, "\(name)")
            #expect(pipelined.partFrames == stream.partFrames, "\(name)")
        }
    }
}
