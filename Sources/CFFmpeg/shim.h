// Re-exports FFmpeg's C API to Swift, plus the macros Swift cannot import,
// under a `cffmpeg_` prefix so they cannot collide with FFmpeg's own names.
#ifndef CLIPTRACE_CFFMPEG_SHIM_H
#define CLIPTRACE_CFFMPEG_SHIM_H

#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
#include <libavutil/avutil.h>
#include <libavutil/display.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>
#include <errno.h>

/// AVERROR(EAGAIN): the decoder wants more input before it can return a frame.
static inline int cffmpeg_averror_eagain(void) { return AVERROR(EAGAIN); }
/// AVERROR_EOF: end of stream.
static inline int cffmpeg_averror_eof(void) { return AVERROR_EOF; }
/// AVERROR(errno) for any POSIX errno value.
static inline int cffmpeg_averror(int posixError) { return AVERROR(posixError); }
/// AVERROR_INVALIDDATA: corrupt or malformed input.
static inline int cffmpeg_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
/// AVERROR_DECODER_NOT_FOUND.
static inline int cffmpeg_averror_decoder_not_found(void) { return AVERROR_DECODER_NOT_FOUND; }
/// AVERROR_STREAM_NOT_FOUND.
static inline int cffmpeg_averror_stream_not_found(void) { return AVERROR_STREAM_NOT_FOUND; }
/// AV_NOPTS_VALUE: "no timestamp".
static inline int64_t cffmpeg_nopts_value(void) { return AV_NOPTS_VALUE; }
/// AV_TIME_BASE: the time base of AVFormatContext.duration / start_time.
static inline int cffmpeg_time_base(void) { return AV_TIME_BASE; }

/// av_err2str(code) into a caller-owned buffer (the macro uses a compound literal Swift cannot import).
static inline const char *cffmpeg_err2str(int code, char *buffer, size_t size) {
    av_strerror(code, buffer, size);
    return buffer;
}

/// Whether a decoded frame is a keyframe (`key_frame`, which FFmpeg 6.1 moved into `flags`).
static inline int cffmpeg_frame_is_key(const AVFrame *frame) {
#ifdef AV_FRAME_FLAG_KEY
    return (frame->flags & AV_FRAME_FLAG_KEY) != 0;
#else
    return frame->key_frame != 0;
#endif
}

/// The display-matrix rotation of a stream in degrees (counter-clockwise, as av_display_rotation_get),
/// or 0 when the stream carries none.
static inline double cffmpeg_stream_rotation(const AVStream *stream) {
    size_t size = 0;
    const uint8_t *matrix = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size);
    if (matrix == NULL || size < 9 * sizeof(int32_t)) return 0.0;
    double angle = av_display_rotation_get((const int32_t *)matrix);
    return angle != angle ? 0.0 : angle; /* NaN → 0 */
}
#endif
