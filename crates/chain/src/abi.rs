//! The contracts' interfaces and bytecode, from `contracts/build` (rebuilt by
//! `node contracts/compile.mjs`): their events are read by the `rpc` module, their functions
//! called by `contracts`.

alloy::sol!(
    #[sol(rpc)]
    TestUSDT,
    "../../contracts/build/TestUSDT.json"
);
alloy::sol!(
    #[sol(rpc)]
    MerchantReceiver,
    "../../contracts/build/MerchantReceiver.json"
);
