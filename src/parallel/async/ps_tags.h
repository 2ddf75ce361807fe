// Tags of the parameter-server exchange: requests to servers and replies from
// them are told apart by tag, headers and payloads too, so a payload can never
// be read as a header.
#pragma once

namespace cohort::ps {

constexpr int kRequestHeader = 11;
constexpr int kRequestPayload = 12;
constexpr int kReplyHeader = 13;
constexpr int kReplyPayload = 14;

}  // namespace cohort::ps
