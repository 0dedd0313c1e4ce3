# bash completion for rrctl(1): commands, their options, instance names
# (from `rrctl ps -aq`, asking the daemon that --host or RUMPRUND_HOST
# names), and files where a command takes a file.  `make install` puts it
# in $(PREFIX)/share/bash-completion/completions/rrctl.

_rrctl_names()
{
	# The global options typed so far, so that the same daemon is asked.
	local i args=()
	for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
		case ${COMP_WORDS[i]} in
		--host|-H|--token-file|--cacert|--cert|--key)
			args+=("${COMP_WORDS[i]}" "${COMP_WORDS[i+1]}")
			((i++)) ;;
		--*=*) args+=("${COMP_WORDS[i]}") ;;
		-*) ;;
		*) break ;;
		esac
	done
	"${COMP_WORDS[0]}" "${args[@]}" ps -aq 2>/dev/null
}

# The names in the daemon's image or volume store ($1).
_rrctl_store()
{
	local args=() i
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--host|-H|--token-file|--cacert|--cert|--key)
			args+=("${COMP_WORDS[i]}" "${COMP_WORDS[i+1]}"); ((i++)) ;;
		esac
	done
	"${COMP_WORDS[0]}" "${args[@]}" "$1" ls -q 2>/dev/null
}

_rrctl()
{
	local cur prev cmd i
	local commands="run iso ps stats stop start rm logs inspect events info version help image volume pause unpause resume restart kill wait"
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}

	# The command: the first word that is not a global option or its value.
	cmd=
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--host|-H|--token-file|--cacert|--cert|--key) ((i++)) ;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done

	case $prev in
	--host|-H) COMPREPLY=($(compgen -W "unix:///run/rumprund/rumprund.sock" -- "$cur")); return ;;
	--token-file|--cacert|--cert|--key|-o|-b) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--restart) COMPREPLY=($(compgen -W "no on-failure always unless-stopped" -- "$cur")); return ;;
	esac

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--host --token-file --cacert --cert --key --json --help --version" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return
	fi

	case $cmd in
	run|iso)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "-b -d -e -I -i -M -N -p -W -o --rm --platform --label --vcpus --accel --boot-timeout --restart --restart-backoff --restart-reset --dry-run --help" -- "$cur"))
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi ;;
	ps)
		COMPREPLY=($(compgen -W "-a -q --filter --json --help" -- "$cur")) ;;
	stop|start|rm|logs|inspect|pause|unpause|resume|restart|kill|wait)
		case $prev in
		-s|--signal) [[ $cmd == kill ]] && { COMPREPLY=($(compgen -W "KILL" -- "$cur")); return; } ;;
		--condition) [[ $cmd == wait ]] && { COMPREPLY=($(compgen -W "ended pending starting paused running stopping exited stopped crashed failed" -- "$cur")); return; } ;;
		esac
		if [[ $cur == -* ]]; then
			case $cmd in
			restart) COMPREPLY=($(compgen -W "-t --time --help" -- "$cur")) ;;
			kill) COMPREPLY=($(compgen -W "-s --signal --help" -- "$cur")) ;;
			wait) COMPREPLY=($(compgen -W "-t --timeout --condition --help" -- "$cur")) ;;
			stop) COMPREPLY=($(compgen -W "-a --all -f -t --help" -- "$cur")) ;;
			rm) COMPREPLY=($(compgen -W "-f --help" -- "$cur")) ;;
			logs) COMPREPLY=($(compgen -W "-f --follow --tail --help" -- "$cur")) ;;
			*) COMPREPLY=($(compgen -W "--help" -- "$cur")) ;;
			esac
		else
			COMPREPLY=($(compgen -W "$(_rrctl_names)" -- "$cur"))
		fi ;;
	stats)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--no-stream --format --json --help" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_rrctl_names)" -- "$cur"))
		fi ;;
	events)
		COMPREPLY=($(compgen -W "--since --no-follow --json --help" -- "$cur")) ;;
	info|version)
		COMPREPLY=($(compgen -W "--json --help" -- "$cur")) ;;
	help)
		COMPREPLY=($(compgen -W "$commands" -- "$cur")) ;;
	image|volume)
		# The subcommand follows the command.
		local sub=${COMP_WORDS[i+1]}
		if ((COMP_CWORD == i + 1)); then
			COMPREPLY=($(compgen -W "push ls rm" -- "$cur"))
		elif [[ $cur == -* ]]; then
			case $sub in
			ls) COMPREPLY=($(compgen -W "-q --json --help" -- "$cur")) ;;
			*) COMPREPLY=($(compgen -W "-f --help" -- "$cur")) ;;
			esac
		elif [[ $sub == push ]]; then
			COMPREPLY=($(compgen -f -- "$cur"))
		elif [[ $sub == rm ]]; then
			COMPREPLY=($(compgen -W "$(_rrctl_store "$cmd")" -- "$cur"))
		fi ;;
	esac
}

complete -F _rrctl rrctl
