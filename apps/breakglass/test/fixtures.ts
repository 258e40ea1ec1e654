/** Strings an attacker (or a confused model) might send as a power verb. None may pass. */
export const INJECTION_CORPUS = [
  'status; reboot', 'status && qm destroy 102', 'reset|sh', 'status`id`', 'status$(id)', '$(reboot)', 'status\nreset',
  'status\r\nreset', 'status\0', ' status', 'status ', 'STATUS', 'Reset', 'reset --skiplock', 'cycle 103', '../status',
  'status/../../bin/sh', 'status%00', 'status%0Areset', 'start\tstop', 'stop;', '', ' ', 'qm', 'destroy', 'Shutdown', 'shutdown ', 'config', 'journal',
  'reboot', 'migrate', 'forensics > /etc/passwd', '-reset', '--', 'statu', 'statuss', 'ѕtatus' /* Cyrillic s */, 'ｓｔａｔｕｓ',
  '__proto__', 'constructor', 'toString', 'hasOwnProperty',
];
