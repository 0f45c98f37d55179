-- Underpayment tolerance (#27). What an order forgives of its amount, fixed with its terms so a
-- later change of the configuration leaves it be; and how far short of the amount the payments
-- accepted as paying it fell. Atomic units as decimal digits, as every amount (see 0001).
ALTER TABLE checkouts ADD COLUMN tolerance_atomic TEXT NOT NULL DEFAULT '0';
ALTER TABLE checkouts ADD COLUMN shortfall_atomic TEXT NOT NULL DEFAULT '0';
