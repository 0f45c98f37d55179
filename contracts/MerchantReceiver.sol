// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

/// A merchant's receiving contract. Shoppers pay it in two ways:
/// - a plain ERC-20 transfer to this address (what a QR code or deep link makes a wallet do);
///   the gateway matches it to an order by amount;
/// - `deposit(token, amount, orderNo)` after an `approve`, which names the order on chain.
/// Only the owner moves funds out.
contract MerchantReceiver {
    address public immutable owner;

    event Deposit(
        address indexed sender,
        address indexed receiver,
        address indexed token,
        uint256 amount,
        string orderNo
    );
    event Withdrawal(address indexed token, address indexed to, uint256 amount);

    constructor(address owner_) {
        require(owner_ != address(0), "owner is the zero address");
        owner = owner_;
    }

    function deposit(address token, uint256 amount, string calldata orderNo) external {
        require(amount > 0, "amount is zero");
        require(bytes(orderNo).length > 0, "orderNo is empty");
        _call(token, abi.encodeWithSelector(0x23b872dd, msg.sender, address(this), amount));
        emit Deposit(msg.sender, address(this), token, amount, orderNo);
    }

    function withdraw(address token, address to, uint256 amount) external {
        require(msg.sender == owner, "only the owner withdraws");
        _call(token, abi.encodeWithSelector(0xa9059cbb, to, amount));
        emit Withdrawal(token, to, amount);
    }

    /// Calls a token that may or may not return a bool (mainnet USDT returns nothing).
    function _call(address token, bytes memory data) private {
        require(token.code.length > 0, "token is not a contract");
        (bool ok, bytes memory result) = token.call(data);
        require(ok && (result.length == 0 || abi.decode(result, (bool))), "token transfer failed");
    }
}
