// Files that steer a root agent (its config, its journal and state) must be writable only by
// root or by the user the agent runs as: anyone else who can edit them can make the agent change
// other people's scheduling, or make `restore` write chosen values.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <string>

#include "common/result.h"

namespace sw {

// Refuses `path` (a file or directory, symlinks followed) when it is writable by group or others,
// or owned by a user other than root or `agent_uid`; also refuses its directory when that is
// writable by group or others without the sticky bit, or owned by another user (who could swap
// the file). `what` names it in the error ("config file"), which says how to fix it.
Result<void> CheckTrustedPath(const std::string& path, const std::string& what,
                              uid_t agent_uid = ::geteuid());

// The state dir (CheckTrustedPath) and every entry in it (same rules; symlinks refused). The
// directory is created 0700 when missing; an existing one is left as it is (and refused if unsafe).
Result<void> PrepareStateDir(const std::string& dir, uid_t agent_uid = ::geteuid());
// The same checks without creating anything (`restore` before it trusts a journal).
Result<void> CheckStateDir(const std::string& dir, uid_t agent_uid = ::geteuid());

}  // namespace sw
