/* jsonlike: a tiny Redis module whose commands look like RedisJSON's, loaded into a throw-away
 * redis-server only to capture COMMAND INFO / COMMAND DOCS replies of module commands
 * (capture.sh). Its commands are never meant to run. */
#include "redismodule.h"

static int reply(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    REDISMODULE_NOT_USED(argv);
    REDISMODULE_NOT_USED(argc);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    REDISMODULE_NOT_USED(argv);
    REDISMODULE_NOT_USED(argc);
    if (RedisModule_Init(ctx, "jsonlike", 1, REDISMODULE_APIVER_1) == REDISMODULE_ERR) return REDISMODULE_ERR;

    /* Old-style: first/last/step only (Redis derives one key spec with variable flags). */
    if (RedisModule_CreateCommand(ctx, "json.get", reply, "readonly", 1, 1, 1) == REDISMODULE_ERR) return REDISMODULE_ERR;

    /* Key specs set by the module: JSON.MSET key path value [key path value ...]. */
    if (RedisModule_CreateCommand(ctx, "json.mset", reply, "write deny-oom", 0, 0, 0) == REDISMODULE_ERR) return REDISMODULE_ERR;
    RedisModuleCommand *mset = RedisModule_GetCommand(ctx, "json.mset");
    RedisModuleCommandKeySpec msetKeys[] = {
        {.flags = REDISMODULE_CMD_KEY_RW | REDISMODULE_CMD_KEY_UPDATE,
         .begin_search_type = REDISMODULE_KSPEC_BS_INDEX, .bs.index.pos = 1,
         .find_keys_type = REDISMODULE_KSPEC_FK_RANGE, .fk.range = {-1, 3, 0}},
        {0}};
    RedisModuleCommandInfo msetInfo = {.version = REDISMODULE_COMMAND_INFO_VERSION, .arity = -4,
        .summary = "Sets or updates JSON values of one or more keys", .since = "2.6.0", .key_specs = msetKeys};
    if (RedisModule_SetCommandInfo(mset, &msetInfo) == REDISMODULE_ERR) return REDISMODULE_ERR;

    /* Keyword search and keynum: JSON.MERGEX numkeys key [key ...] STORE dst. */
    if (RedisModule_CreateCommand(ctx, "json.mergex", reply, "write", 0, 0, 0) == REDISMODULE_ERR) return REDISMODULE_ERR;
    RedisModuleCommand *merge = RedisModule_GetCommand(ctx, "json.mergex");
    RedisModuleCommandKeySpec mergeKeys[] = {
        {.flags = REDISMODULE_CMD_KEY_RO | REDISMODULE_CMD_KEY_ACCESS,
         .begin_search_type = REDISMODULE_KSPEC_BS_INDEX, .bs.index.pos = 1,
         .find_keys_type = REDISMODULE_KSPEC_FK_KEYNUM, .fk.keynum = {0, 1, 1}},
        {.flags = REDISMODULE_CMD_KEY_OW | REDISMODULE_CMD_KEY_UPDATE,
         .begin_search_type = REDISMODULE_KSPEC_BS_KEYWORD, .bs.keyword = {"STORE", -1},
         .find_keys_type = REDISMODULE_KSPEC_FK_RANGE, .fk.range = {0, 1, 0}},
        {0}};
    RedisModuleCommandInfo mergeInfo = {.version = REDISMODULE_COMMAND_INFO_VERSION, .arity = -5, .key_specs = mergeKeys};
    if (RedisModule_SetCommandInfo(merge, &mergeInfo) == REDISMODULE_ERR) return REDISMODULE_ERR;

    /* Administrative and keyless: never learnt by slotgate. */
    if (RedisModule_CreateCommand(ctx, "json.resetstats", reply, "admin", 0, 0, 0) == REDISMODULE_ERR) return REDISMODULE_ERR;
    /* Blocking-flagged with a key: never learnt either. */
    if (RedisModule_CreateCommand(ctx, "json.waitfor", reply, "write blocking", 1, 1, 1) == REDISMODULE_ERR) return REDISMODULE_ERR;
    /* A container with one keyed subcommand. */
    if (RedisModule_CreateCommand(ctx, "json.debug", NULL, "", 0, 0, 0) == REDISMODULE_ERR) return REDISMODULE_ERR;
    RedisModuleCommand *dbg = RedisModule_GetCommand(ctx, "json.debug");
    if (RedisModule_CreateSubcommand(dbg, "memory", reply, "readonly", 2, 2, 1) == REDISMODULE_ERR) return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
