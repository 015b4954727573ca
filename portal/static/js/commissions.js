// Commission pages need no script of their own (confirmations come from portal.js).
