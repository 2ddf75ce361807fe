// Every point-to-point tag Cohort sends on, in one place so that two uses never
// share a tag on one group by accident. Messages between one pair of ranks on one
// tag arrive in order, so each tag serves every step; send_bytes and send_tensors
// send a size and then a payload, both on the tag they are given.
#pragma once

namespace cohort::tags {

// Each rank's trace spans, to the leader at the end of a run.
inline constexpr int kTrace = 7;
// An asynchronous parameter server's report, to the leader.
inline constexpr int kServerReport = 8;

// The parameter-server exchange: requests to servers and replies from them are
// told apart by tag, headers and payloads too, so a payload is never read as a
// header.
inline constexpr int kPsRequestHeader = 11;
inline constexpr int kPsRequestPayload = 12;
inline constexpr int kPsReplyHeader = 13;
inline constexpr int kPsReplyPayload = 14;

// The pipeline executor: the shape handshake, then one activation and one
// gradient tag per micro-batch.
inline constexpr int kPipelineHeaderNdim = 7100;
inline constexpr int kPipelineHeaderSizes = 7101;
constexpr int pipeline_activation(int micro_batch) { return 7200 + 2 * micro_batch; }
constexpr int pipeline_gradient(int micro_batch) { return 7200 + 2 * micro_batch + 1; }

// Stages' state gathered for a checkpoint, and their timelines, on the pipeline
// group: far above any micro-batch's tags.
inline constexpr int kPipelineState = 1 << 20;
inline constexpr int kPipelineTimeline = kPipelineState + 1;

// Population-based training between network groups (on the group of their leaders)
// and between members with their own layouts (on the world group).
inline constexpr int kGroupGather = 1 << 21;
inline constexpr int kGroupExploit = kGroupGather + 8;
inline constexpr int kMemberGather = 1 << 22;
inline constexpr int kMemberExploit = kMemberGather + 8;
// Mutual learning's logits between members with their own layouts, every step.
inline constexpr int kMemberLogits = kMemberGather + 16;

}  // namespace cohort::tags
