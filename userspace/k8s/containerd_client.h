// The containerd API client behind pod identity: lists the containers of one containerd namespace
// (kubelet's CRI plugin uses "k8s.io") over containerd's own socket, through the containers
// service of containerd's API protos, compiled at build time (userspace/k8s/CMakeLists.txt). No
// gRPC type leaks out of this header.
#pragma once

#include <memory>
#include <string>

#include "k8s/runtime_pods.h"

namespace sw {

inline constexpr const char* kDefaultRuntimeNamespace = "k8s.io";

// `endpoint` is "unix:///path/to/containerd.sock". Connecting is lazy: an absent socket is an
// error of the List call, not of construction.
std::unique_ptr<RuntimeLister> MakeContainerdLister(const std::string& endpoint,
                                                    const std::string& runtime_namespace);

}  // namespace sw
