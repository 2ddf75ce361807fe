#pragma once
namespace cohort {
const char* version();
}
